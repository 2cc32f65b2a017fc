"""Studies: the analyses behind reports/. This module is the `hwsim report` driver: it regenerates every table
and figure under reports/ and writes their markdown index.

Each section is a function that writes into its own folder and returns the files it wrote; the index
(reports/README.md) lists every section with its description and its files.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

SWEEP_EXAMPLE = {
    "version": 1,
    "arch": "sat-vcu1525",
    "grid": {"array.rows": [16, 32, 64], "array.cols": [16, 32], "dram.channels": [2, 4]},
    "models": ["resnet50", "vit"],
    "methods": ["dense", "bdwp:2:8"],
    "batch": 32,
}

SEARCH_EXAMPLE = {
    "version": 1,
    "arch": "sat-vcu1525",
    "space": {"array.rows": {"low": 8, "high": 64, "step": 8}, "array.cols": [16, 32, 64],
              "array.mults_per_pe": [2, 4], "buffers.a_kib": [1024, 2048, 4096], "buffers.b_kib": [512, 1024, 2048],
              "dram.channels": [2, 4], "vector.lanes": [64, 128, 256], "method": ["dense", "bdwp:2:8", "bdwp:1:8"]},
    "models": ["resnet50", "vit"],
    "batch": 32,
    "objectives": ["latency", "energy", "resources"],
    "trials": 80,
    "seed": 0,
}


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    description: str
    run: Callable[[Path, bool], list[Path]]
    inputs: tuple[str, ...] = ()  # files the section reads from its own folder (checked before any section runs)


def _sat_paper(out: Path, progress: bool) -> list[Path]:
    from hwsim.studies.sat_paper import run_paper_comparison

    summary = run_paper_comparison(out, progress=progress)
    return [Path(line.removeprefix("wrote ")) for line in summary.splitlines() if line.startswith("wrote ")]


def _sweep_example(out: Path, progress: bool) -> list[Path]:
    from hwsim.figures.pareto import pareto_plot
    from hwsim.sweeps import sweep

    out.mkdir(parents=True, exist_ok=True)
    spec = out / "spec.yaml"
    spec.write_text(yaml.safe_dump(SWEEP_EXAMPLE, sort_keys=False))
    table = sweep(spec, out / "results.csv", progress=progress)
    figs = pareto_plot(table, out / "pareto")
    best = table[table["fits_board"]].sort_values("seconds").groupby(["model", "method"], sort=False).head(1)
    cols = ["model", "method", "nm", "array.rows", "array.cols", "dram.channels", "seconds", "energy_j", "speedup",
            "dsp"]
    lines = ["# Sweep example: array shape x DRAM channels x {dense, BDWP 2:8}", "",
             f"Spec: `spec.yaml` ({len(table)} points), run by `hwsim sweep spec.yaml --out results.csv --plot`.",
             f"{len(table.attrs['pruned'])} of its configurations exceed the VCU1525's resource budget: pruned before "
             "simulation and listed in `results_pruned.csv` (`over_budget: keep` simulates them too).",
             "", "Fastest in-budget point per model and method:", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in best.iterrows():
        lines.append("| " + " | ".join(_fmt(row[c]) for c in cols) + " |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    listing = [out / "results_pruned.csv"] if table.attrs["pruned"] else []
    return [spec, out / "results.csv", *listing, out / "summary.md", *figs]


def _search_example(out: Path, progress: bool) -> list[Path]:
    """`hwsim search` on ResNet-50 + ViT under the VCU1525 budget, from scratch (one process: reproducible)."""
    import shutil

    from hwsim.searches import search

    if out.is_dir():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    spec = out / "spec.yaml"
    spec.write_text(yaml.safe_dump(SEARCH_EXAMPLE, sort_keys=False))
    res = search(spec, out, jobs=1, progress=progress)
    (out / "study.sqlite3").unlink()  # the study is rebuilt by each run; the tables keep every trial
    return [p for p in res.files if p.exists()] + [spec]


def _search_quality(out: Path, progress: bool) -> list[Path]:
    """Written by `make bench-search` (minutes: an exhaustive grid); listed here."""
    return sorted(out.glob("*")) if out.is_dir() else []


def _tiny(out: Path, progress: bool) -> list[Path]:
    from hwsim.studies.tiny import write_report

    return write_report(out)


def _rtl_estimate(out: Path, progress: bool) -> list[Path]:
    """The resource estimate beside Yosys synthesis of the generated RTL (reports/rtl/resources.csv, written by
    `make rtl-report`, which needs Debian yosys and takes minutes; this section only reads it)."""
    import pandas as pd

    from hwsim.config import load_arch
    from hwsim.errors import HwsimError
    from hwsim.figures.style import figure, save_figure
    from hwsim.resources import core_estimate, held_out

    synth_csv = out / "resources.csv"
    if not synth_csv.exists():
        raise HwsimError(f"rtl: {synth_csv} not found (expected the synthesis table: run `make rtl-report`)",
                         "hwsim report")
    synth = pd.read_csv(synth_csv)
    rows = []
    for _, r in synth.iterrows():
        cfg = load_arch("sat-small", {"array.rows": int(r.rows), "array.cols": int(r.cols),
                                      "array.mults_per_pe": int(r.mults_per_pe),
                                      "precision.operand_bytes": int(r.width) // 8,
                                      "precision.operand_type": "float" if r["dtype"].startswith("fp") else "int"})
        est = core_estimate(cfg, r.nm)
        rows.append({"config": r.config, "nm": r.nm, "dtype": r["dtype"], "mults": int(r.mults_per_pe),
                     "held_out": held_out(r), "PEs": int(r.PEs),
                     "LUT_synth": int(r.LUT_logic),
                     "LUT_est": est["LUT_est"], "FF_synth": int(r.FF), "FF_est": est["FF_est"],
                     "DSP_synth": int(r.DSP), "DSP_est": est["DSP_est"]})
    table = pd.DataFrame(rows)
    for kind in ("LUT", "FF", "DSP"):
        table[f"{kind}_est/synth"] = (table[f"{kind}_est"] / table[f"{kind}_synth"]).round(2)
    table.to_csv(out / "estimate_vs_synthesis.csv", index=False)
    cols = list(table.columns)
    lines = ["# Resource estimate beside synthesis", "",
             "The simulator's resource estimate (`hwsim/resources.py`, the rules every result's `resources` uses) for "
             "the PE array and controller that `hwsim rtl` generates, beside Yosys `synth_xilinx -family xcup` of that "
             "Verilog (`resources.csv`, from `make rtl-report`; logic LUTs: the LUTs Yosys uses as RAM hold tile "
             "buffers, which the estimate places in block RAM). The LUT constants are a least-squares fit and the FF "
             "rule is the register count of the RTL plus a fitted controller constant (`python reports/rtl_resources.py "
             "--calibrate`), over the rows with `held_out` False (2x2 arrays and a 3x3 int16 one with 2 multipliers); "
             "the rows with `held_out` True "
             "(`hwsim.resources.HELD_OUT`: 3x3 int8 and int16 arrays, a 1x1 fp16 PE with 4 multipliers, a dense int16 "
             "PE with 4) were left out of the fit and predicted.",
             "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    (out / "estimate_vs_synthesis.md").write_text("\n".join(lines) + "\n")
    fig, axes = figure(1, 3, figsize=(12, 4.8))
    labels = [f"{c.replace('sat-small ', '')}\n{n}" + (" (held out)" if h else "")
              for c, n, h in zip(table.config, table.nm, table.held_out)]
    for ax, kind in zip(axes, ("LUT", "FF", "DSP")):
        x = range(len(table))
        ax.bar([i - 0.2 for i in x], table[f"{kind}_synth"], width=0.4, label="synthesis (Yosys)")
        ax.bar([i + 0.2 for i in x], table[f"{kind}_est"], width=0.4, label="estimate (hwsim.resources)")
        ax.set_xticks(list(x), labels, rotation=90, fontsize=7)
        ax.set_title(kind)
    axes[0].legend()
    fig.suptitle("SAT core: resource estimate vs synthesis of the generated RTL (int8, int16, fp16; 2, 4, 8 "
                 "multipliers per PE)")
    return [out / "estimate_vs_synthesis.csv", out / "estimate_vs_synthesis.md",
            *save_figure(fig, out / "estimate_vs_synthesis")]


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return str(value)


SECTIONS = [
    Section("sat_paper", "SAT paper comparison",
            "The SAT paper's five workloads, dense / SR-STE / BDWP at 2:4, 2:8, 1:8 on sat-vcu1525: speedups, where "
            "the ideal speedup goes, sensitivity to the modelling assumptions, cycles per phase, energy.",
            _sat_paper),
    Section("sweep_example", "Design-space sweep example",
            "Three array heights x two array widths x two DRAM channel counts x {dense, BDWP 2:8} on ResNet-50 and "
            "ViT; the latency-energy Pareto front; configurations over the board budget pruned and listed.",
            _sweep_example),
    Section("search_example", "Co-search example",
            "`hwsim search spec.yaml --out search_example`: 80 trials over array shape, multipliers per PE, A and B "
            "buffers, DRAM channels, vector lanes and {dense, BDWP 2:8, BDWP 1:8} on ResNet-50 + ViT (batch 32) "
            "under the VCU1525 budget; objectives latency, energy, resources; the labelled Pareto set and one arch "
            "file per front design (`arch/D*.yaml`).", _search_example),
    Section("search_quality", "Search quality against an exhaustive grid",
            "Written by `make bench-search` (an exhaustive 3,456-point grid, minutes): hypervolume of the co-search "
            "(TPE, NSGA-II) and of random search at 10% of the evaluations, over five seeds.", _search_quality),
    Section("rtl", "RTL resources: synthesis and the estimate",
            "Yosys synthesis of the generated SAT core (int8, int16, fp16; 2, 4, 8 multipliers per PE; N:M and "
            "dense; ECP5 Fmax), "
            "written by `make rtl-report` (needs Debian yosys, minutes); `hwsim report` sets the simulator's "
            "resource estimate beside it.", _rtl_estimate, inputs=("resources.csv",)),
    Section("tiny", "256KB on-device training engines",
            "The int8 training graphs of mcunet-5fps, mbv2-w0.35 and proxyless-w0.3 with sparse update: peak memory "
            "for full update / sparse update / sparse update + reordering against 256KB, the memory timeline, "
            "latency per image on mcu-stm32f746 and npu-256k, every published scheme's analytic memory.", _tiny),
]


def run_reports(out: str | Path = "reports", only: list[str] | None = None, progress: bool = True) -> Path:
    """Run the sections (all, or `only`), then rewrite the index. Returns the index path."""
    from hwsim.errors import HwsimError

    names = [s.name for s in SECTIONS]
    for name in only or []:
        if name not in names:
            raise HwsimError(f"only: {name!r} (expected one of: {', '.join(names)})", "--only")
    out = Path(out)
    if not out.is_dir():
        raise HwsimError(f"out: {str(out)!r} is not a directory (expected the reports/ folder of a clone)", "--out")
    chosen = [s for s in SECTIONS if not only or s.name in only]
    needed = [(s, out / s.name / name) for s in chosen for name in s.inputs]
    for section, path in needed:  # every section's inputs, before any section runs
        if not path.is_file():
            raise HwsimError(f"{section.name}: {path} not found (expected the input of that section; for rtl run "
                             "`make rtl-report`)", "hwsim report")
    from hwsim.outputs import output_folder, staged_folder

    for section in chosen:
        output_folder(out / section.name, "--out")
    keep = [str(path.relative_to(out)) for _, path in needed]
    with staged_folder(out, "--out", inputs=[p for _, p in needed], keep=keep) as stage:
        for section, path in needed:  # a section reads its inputs where it writes; they are never moved back
            (stage / section.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, stage / path.relative_to(out))
        for section in chosen:
            section.run(stage / section.name, progress)
    index = out / "README.md"
    from hwsim.outputs import atomic_write

    atomic_write(index, lambda tmp: tmp.write_text(_index(out)), "--out")
    return index


def _index(out: Path) -> str:
    lines = ["# Reports", "", "Every file below is regenerated by `hwsim report` (or `make report`) from the public "
             "API; nothing is typed in. Figures come as PDF, SVG and PNG (200 dpi).", ""]
    for section in SECTIONS:
        folder = out / section.name
        lines += [f"## {section.title} (`{section.name}/`)", "", section.description, ""]
        files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
        if not files:
            lines += ["(not generated yet: run `hwsim report --only " + section.name + "`)", ""]
            continue
        pngs = [p for p in files if p.suffix == ".png"]
        lines += [f"- [{p.name}]({section.name}/{p.name})" for p in files if p.suffix not in (".pdf", ".svg")]
        lines += [""] + [f"![{p.stem}]({section.name}/{p.name})" for p in pngs] + [""]
    return "\n".join(lines)
