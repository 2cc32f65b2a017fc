"""reports/tiny/: the 256KB on-device training engines on the paper's three backbones.

Run by `hwsim report` (section `tiny`), `make tiny-report` or `python reports/tiny_engines.py [--out DIR]`.

Writes results.csv, schemes.csv, README.md (tables) and three figures as PDF, SVG and PNG (200 dpi):
peak_memory (full update / sparse update / sparse update + reordering against the 256KB line), timeline
(memory over time of MobileNetV2-w0.35, with and without reordering, by tensor kind, peak tensors named) and
latency (per training image on mcu-stm32f746 and npu-256k).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import hwsim
from hwsim.dataflow.tiny import published_names
from hwsim.figures.style import figure, save_figure

BACKBONES = {"mcunet-5fps": "mcunet-5fps:99kb", "mbv2-w0.35": "mbv2-w0.35:99kb",
             "proxyless-w0.3": "proxyless-w0.3:98kb"}  # the reference's "100KB scheme" of its main results
TARGETS = ("mcu-stm32f746", "npu-256k")


def _save(fig, out: Path, stem: str) -> None:
    save_figure(fig, out / stem)


def _row(r) -> dict:
    return {"model": r.model, "scheme": r.scheme, "target": r.target, "reorder": r.reorder,
            "analytic_extra_kb": round(r.analytic_extra_kb, 2), "peak_sram_kb": round(r.peak_sram_kb, 1),
            "flash_kb": round(r.flash_kb, 1), "latency_ms": round(r.latency_ms, 2), "energy_mj": round(r.energy_mj, 3),
            "fits": r.fits, "peak_op": r.to_dict()["peak_op"]}


def peak_memory(out: Path) -> pd.DataFrame:
    rows, bars = [], {}
    for model, scheme in BACKBONES.items():
        full = hwsim.tiny(model, "full", reorder=False)
        sparse = hwsim.tiny(model, scheme, reorder=False)
        both = hwsim.tiny(model, scheme, reorder=True)
        bars[model] = (full.peak_sram_kb, sparse.peak_sram_kb, both.peak_sram_kb)
        rows += [_row(full), _row(sparse), _row(both)]
    fig, ax = figure(figsize=(7, 3.6))
    top = 700
    labels = ("full update", "sparse update", "sparse update + reordering")
    colors = ("#b2b2b2", "#6fa8dc", "#1f4e79")
    for i, model in enumerate(bars):
        for j, value in enumerate(bars[model]):
            x = i + (j - 1) * 0.27
            ax.bar(x, min(value, top), 0.25, color=colors[j], label=labels[j] if i == 0 else None)
            ax.text(x, min(value, top) + 8, f"{value:.0f}", ha="center", fontsize=7)
    ax.axhline(256, color="#c00000", ls="--", lw=1)
    ax.text(2.45, 262, "256KB SRAM", color="#c00000", ha="right", fontsize=8)
    ax.set_xticks(range(len(bars)), list(bars))
    ax.set_ylim(0, top + 60)
    ax.set_ylabel("planned peak SRAM (KB)")
    ax.set_title("Training memory on mcu-stm32f746 (batch 1, 128 px; bars above the axis are cut, value on top)",
                 fontsize=8)
    ax.legend(fontsize=7, loc="upper center", ncol=3, bbox_to_anchor=(0.5, -0.1), frameon=False)
    _save(fig, out, "peak_memory")
    return pd.DataFrame(rows)


def timeline(out: Path) -> list[str]:
    """MobileNetV2-w0.35's memory over one training step, without and with reordering (the `hwsim tiny --plot`
    drawing, side by side)."""
    from hwsim.figures.timeline import draw_timeline

    model, scheme = "mbv2-w0.35", BACKBONES["mbv2-w0.35"]
    fig, axes = figure(1, 2, figsize=(12, 4.4))
    notes = []
    for ax, reorder in zip(axes, (False, True)):
        r = hwsim.tiny(model, scheme, reorder=reorder)
        draw_timeline(r, ax)
        peak_at = int(r.ops["live_bytes"].to_numpy().argmax())
        who = ", ".join(f"{row.name} {row.bytes / 1024:.0f}KB" for row in r.peak_tensors().head(3).itertuples())
        notes.append(f"{'with' if reorder else 'without'} reordering: {r.max_live_kb:.1f}KB alive at "
                     f"{r.ops['name'].iloc[peak_at]} ({who})")
    _save(fig, out, "timeline")
    return notes


def latency(out: Path) -> pd.DataFrame:
    rows = [_row(hwsim.tiny(m, s, target=t)) for m, s in BACKBONES.items() for t in TARGETS]
    df = pd.DataFrame(rows)
    fig, ax = figure(figsize=(6, 3.2))
    for j, target in enumerate(TARGETS):
        sub = df[df["target"] == target]
        xs = [i + (j - 0.5) * 0.38 for i in range(len(sub))]
        ax.bar(xs, sub["latency_ms"], 0.36, label=target, color=("#1f4e79", "#e69138")[j])
        for x, v in zip(xs, sub["latency_ms"]):
            ax.text(x, v * 1.08, f"{v:.1f}", ha="center", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(1, df["latency_ms"].max() * 2.5)
    ax.set_xticks(range(len(BACKBONES)), list(BACKBONES))
    ax.set_ylabel("ms per training image (log)")
    ax.set_title("Sparse update + reordering, batch 1", fontsize=8)
    ax.legend(fontsize=7, loc="upper right")
    _save(fig, out, "latency")
    return df


def sensitivity() -> pd.DataFrame:
    """Each backbone's 100KB scheme on mcu-stm32f746 under the choices that move the headline: the patch grid of
    the frozen head, fused or un-fused casts (the reference compiler's graph), reordering, int8 gradients."""
    from hwsim.ondevice.targets import load_target

    mcu = load_target("mcu-stm32f746")
    int8 = mcu.model_copy(update={"precision": mcu.precision.model_copy(update={"grad": 1})})
    options = [("default (4x4 patches, fused casts, reorder)", {}),
               ("no patches (1x1)", {"patches": 1}), ("2x2 patches", {"patches": 2}), ("8x8 patches", {"patches": 8}),
               ("un-fused casts", {"fused_casts": False}), ("no reorder", {"reorder": False}),
               ("no reorder, un-fused casts", {"reorder": False, "fused_casts": False}),
               ("int8 gradients (precision.grad 1)", {"target": int8})]
    rows = []
    for model, scheme in BACKBONES.items():
        for label, kw in options:
            r = hwsim.tiny(model, scheme, **kw)
            rows.append({"model": model, "option": label, "patches": r.patches, "fused_casts": r.fused_casts,
                         "reorder": r.reorder, "grad_bytes": 1 if "target" in kw else mcu.precision.grad,
                         "peak_sram_kb": round(r.peak_sram_kb, 1), "latency_ms": round(r.latency_ms, 1),
                         "fits": r.fits, "peak_op": r.to_dict()["peak_op"]})
    return pd.DataFrame(rows)


def calibration() -> pd.DataFrame:
    """The MCU cycle model against the published latencies it is fitted to, and the one held out."""
    from hwsim.ondevice.calibration import published_fit
    from hwsim.ondevice.targets import load_target

    fit = published_fit(load_target("mcu-stm32f746"))
    return fit.table.assign(predicted_ms=fit.table["predicted_ms"].round(1), ratio=fit.table["ratio"].round(3))


def schemes() -> pd.DataFrame:
    rows = []
    for name in published_names():
        model, label = name.split(":")
        r = hwsim.tiny(model, name)
        rows.append({"scheme": name, "label_kb": float(label[:-2]), "analytic_extra_kb": round(r.analytic_extra_kb, 2),
                     "deviation_pct": round((r.analytic_extra_kb / float(label[:-2]) - 1) * 100, 2),
                     "peak_sram_kb": round(r.peak_sram_kb, 1),
                     "peak_sram_kb_no_reorder": round(hwsim.tiny(model, name, reorder=False).peak_sram_kb, 1)})
    last12 = hwsim.tiny("mcunet-5fps", "last-12")
    rows.append({"scheme": "mcunet-5fps last-12", "label_kb": 448.0,
                 "analytic_extra_kb": round(last12.analytic_extra_kb, 2),
                 "deviation_pct": round((last12.analytic_extra_kb / 448 - 1) * 100, 2),
                 "peak_sram_kb": round(last12.peak_sram_kb, 1),
                 "peak_sram_kb_no_reorder": round(hwsim.tiny("mcunet-5fps", "last-12", reorder=False).peak_sram_kb, 1)})
    return pd.DataFrame(rows)


def _md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def write_report(out: Path) -> list[Path]:
    """Write every table and figure into `out`; return the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    args = argparse.Namespace(out=out)
    mem = peak_memory(args.out)
    notes = timeline(args.out)
    lat = latency(args.out)
    sch = schemes()
    sens = sensitivity()
    cal = calibration()
    results = pd.concat([mem, lat], ignore_index=True)
    results.to_csv(args.out / "results.csv", index=False)
    sch.to_csv(args.out / "schemes.csv", index=False)
    sens.to_csv(args.out / "sensitivity.csv", index=False)
    cal.to_csv(args.out / "calibration.csv", index=False)
    text = [
        "# The 256KB on-device training engines", "",
        "Generated by `hwsim report --only tiny` (or `make tiny-report`); batch 1, 128x128 input, 10 classes.",
        "Sparse scheme per backbone: the reference's \"100KB scheme\" used for its main results.", "",
        "## Peak memory: full update / sparse update / sparse update + reordering (mcu-stm32f746)", "",
        "![peak memory](peak_memory.png)", "", _md(mem), "",
        "## Memory over time (mbv2-w0.35)", "", "![timeline](timeline.png)", "", *[f"- {n}" for n in notes], "",
        "## Latency per training image", "", "![latency](latency.png)", "", _md(lat), "",
        "## The MCU cycle model against published latencies", "",
        "Kernel rates fitted to TinyEngine's inference latencies (STM32H743, 480 MHz) and the paper's training "
        "latencies (Fig. 10(c), TTE sparse, STM32F746, 216 MHz); `check` is held out of the fit "
        "(sources: `hwsim/ondevice/measured/published.yaml`).", "", _md(cal), "",
        "## Sensitivity: the choices behind each number (mcu-stm32f746, 100KB schemes)", "",
        "The defaults are the target preset's (`patches: 4`) and hwsim's (fused casts, reordering, fp32 "
        "gradients); each row changes one choice (or two).", "", _md(sens), "",
        "## Analytic extra memory of every published scheme (mcu-stm32f746, 128 px)", "",
        "`label_kb` is the reference's name for the scheme; the last row is the paper's 448KB figure.", "",
        _md(sch), "",
    ]
    (args.out / "README.md").write_text("\n".join(text))
    return sorted(p for p in out.iterdir() if p.is_file())


