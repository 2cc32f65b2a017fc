"""Synthesized resources of the SAT core across array sizes and N:M support, as a DataFrame (for comparing
with the resource estimate), plus the markdown table and plot of reports/rtl/."""
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hwsim.config import SATConfig, load_arch


@dataclass(frozen=True)
class Point:
    """One synthesized design: an architecture (a preset, optionally with another array shape, multipliers per PE
    and operand format) and an N:M."""

    arch: str
    rows: int | None = None
    cols: int | None = None
    nm: str = "2:8"
    dtype: str | None = None  # "int8", "int16", "fp16"; None: the preset's
    mults: int | None = None

    def config(self) -> SATConfig:
        cfg = load_arch(self.arch)
        data = cfg.model_dump()
        label = []
        if self.rows is not None:
            data["array"] = {**data["array"], "rows": self.rows, "cols": self.cols}
            label.append(f"{self.rows}x{self.cols}")
        if self.mults is not None:
            data["array"] = {**data["array"], "mults_per_pe": self.mults}
            label.append(f"m{self.mults}")
        if self.dtype is not None:
            bits = int(self.dtype.lstrip("intfp"))
            data["precision"] = {**data["precision"], "operand_bytes": bits // 8,
                                 "operand_type": "float" if self.dtype.startswith("fp") else "int"}
            label.append(self.dtype)
        if not label:
            return cfg
        data["name"] = f"{cfg.name} {' '.join(label)}"
        return SATConfig.model_validate(data)


# sat-small and two larger arrays, each with the N:M activation muxes (2:8) and without (dense): int16
DEFAULT_POINTS = tuple(Point("sat-small", r, r, nm, dtype="int16") if r != 4 else Point("sat-small", nm=nm,
                                                                                        dtype="int16")
                       for r in (4, 6, 8) for nm in ("2:8", "dense"))
# the resource estimate's calibration set, in the order synthesized: the fit (2x2 arrays: int8 and int16 with 2, 4 and
# 8 multipliers per PE at 2:8, dense int16 and fp16 with 2), then the held-out rows (hwsim.resources.HELD_OUT: 3x3
# int16 with 2 and 4, 3x3 int8 with 4, dense int16 with 4, and fp16 with 4 on 1x1: an fp16 2x2 with 4 multipliers
# takes over half an hour to synthesize on the shared machine)
_FIT = [Point("sat-small", 2, 2, "2:8", dtype=d, mults=m) for d, m in
        [("int8", 2), ("int8", 8), ("int16", 2), ("int16", 8), ("fp16", 2)]] \
    + [Point("sat-small", 2, 2, "dense", dtype="int16", mults=2)] \
    + [Point("sat-small", 2, 2, "2:8", dtype=d, mults=4) for d in ("int8", "int16")]
CALIBRATION_POINTS = tuple(_FIT + [Point("sat-small", 3, 3, "2:8", dtype="int16", mults=2),
                                   Point("sat-small", 3, 3, "2:8", dtype="int16", mults=4),
                                   Point("sat-small", 3, 3, "2:8", dtype="int8", mults=4),
                                   Point("sat-small", 2, 2, "dense", dtype="int16", mults=4),
                                   Point("sat-small", 1, 1, "2:8", dtype="fp16", mults=4)])


def _synth_one(point: Point, family: str = "xcup") -> dict:
    from hwsim.rtl.export import CORE_TOP, core_verilog
    from hwsim.rtl.params import CoreParams
    from hwsim.rtl.synth import synth_xilinx

    cfg = point.config()
    p = CoreParams.from_config(cfg, point.nm)
    with tempfile.TemporaryDirectory() as tmp:
        v = Path(tmp) / f"{CORE_TOP}.v"
        v.write_text(core_verilog(p))
        res = synth_xilinx(v, CORE_TOP, family=family)
    pes = p.rows * p.cols
    return {"config": cfg.name, "rows": p.rows, "cols": p.cols, "PEs": pes, "mults_per_pe": p.mults,
            "nm": p.nm_text, "dtype": p.dtype, "width": p.width, "pipeline_depth": p.pe_latency, "k_step": p.k_step,
            **res, "LUT_logic": res["LUT"] - res["LUTRAM"],
            "LUT_per_PE": res["LUT"] / pes, "logic_LUT_per_PE": (res["LUT"] - res["LUTRAM"]) / pes,
            "FF_per_PE": res["FF"] / pes, "DSP_per_PE": res["DSP"] / pes}


def synth_resources(points=DEFAULT_POINTS, jobs: int = 2):
    """Yosys synth_xilinx counts (LUT, LUTRAM, FF, DSP, BRAM36) for each point, one row per point."""
    import pandas as pd

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(_synth_one, points))
    return pd.DataFrame(rows)


def synth_rows(points, csv: Path, progress=None) -> "pd.DataFrame":
    """Synthesize `points` one at a time (the machine's cores are shared), appending each row to `csv` as it
    finishes; points already in `csv` are not synthesized again (an interrupted run resumes)."""
    import time

    import pandas as pd

    done = set(zip(*(lambda d: (d.config, d.nm))(pd.read_csv(csv)))) if csv.exists() else set()
    for point in points:
        name = point.config().name
        if (name, point.nm) in done:
            continue
        t0 = time.monotonic()
        row = _synth_one(point)
        row["synth_s"] = round(time.monotonic() - t0, 1)
        pd.DataFrame([row]).to_csv(csv, mode="a", header=not csv.exists(), index=False)
        if progress:
            progress(f"{name} {point.nm}: {row['synth_s']} s")
    return pd.read_csv(csv)


def ecp5_fmax(point: Point = Point("sat-small", dtype="int16")) -> dict:
    """Place and route one point on an ECP5 (nextpnr) and return its cells and Fmax."""
    from hwsim.rtl.export import CORE_TOP, core_verilog
    from hwsim.rtl.params import CoreParams
    from hwsim.rtl.synth import synth_ecp5

    cfg = point.config()
    p = CoreParams.from_config(cfg, point.nm)
    with tempfile.TemporaryDirectory() as tmp:
        v = Path(tmp) / f"{CORE_TOP}.v"
        v.write_text(core_verilog(p))
        res = synth_ecp5(v, CORE_TOP, freq_mhz=cfg.clock_mhz)
    return {"config": cfg.name, "nm": p.nm_text, "width": p.width, **res}


def nm_cost(df):
    """N:M support cost per array: logic LUTs (LUT RAM excluded: the buffers map differently as their word
    widths change), FFs and DSPs of the N:M core over the dense core of the same shape."""
    import pandas as pd

    out = []
    for (r, c, dt, mults), g in df.groupby(["rows", "cols", "dtype", "mults_per_pe"], sort=True):
        sparse, dense = g[g.nm != "dense"], g[g.nm == "dense"]
        if sparse.empty or dense.empty:
            continue
        s, d = sparse.iloc[0], dense.iloc[0]
        out.append({"array": f"{r}x{c}", "dtype": dt, "mults_per_pe": mults, "nm": s.nm,
                    "logic_LUT_nm": s.LUT_logic, "logic_LUT_dense": d.LUT_logic,
                    "extra_logic_LUT_per_PE": (s.LUT_logic - d.LUT_logic) / s.PEs,
                    "LUT_ratio": s.LUT_logic / d.LUT_logic,
                    "FF_ratio": s.FF / d.FF, "DSP_nm": s.DSP, "DSP_dense": d.DSP})
    return pd.DataFrame(out)


def write_report(out: Path, df, cost, fmax: dict | None) -> list[Path]:
    """ecp5.json, resources.md and resources.{pdf,svg,png} (200 dpi) in `out`, beside resources.csv (`df`, written
    row by row by `synth_rows`)."""
    import json

    from hwsim.figures.style import figure, save_figure

    out.mkdir(parents=True, exist_ok=True)
    if fmax:
        (out / "ecp5.json").write_text(json.dumps(fmax, indent=2) + "\n")
    cols = ["config", "PEs", "mults_per_pe", "nm", "dtype", "LUT", "LUTRAM", "SRL", "FF", "DSP", "BRAM36",
            "logic_LUT_per_PE", "FF_per_PE", "DSP_per_PE", "synth_s"]
    lines = ["# SAT core RTL: synthesized resources",
             "",
             "Generated by `python reports/rtl_resources.py` (`make rtl-report`): Yosys (Debian 0.23) `synth_xilinx "
             "-family xcup -flatten` (UltraScale+, DSP48E2) on the Verilog of `hwsim rtl`, one synthesis at a time "
             "(`synth_s`: its wall time on the shared 2-core machine). LUT counts include LUTs used as RAM "
             "(LUTRAM) and shift registers (SRL). Arrays derived from `sat-small` (pipeline depth 3) with the shape, "
             "multipliers per PE and operand format changed: the calibration set of the resource estimate "
             "(`estimate_vs_synthesis.md`).",
             "",
             _md(df[cols]),
             "",
             "## Cost of N:M support (activation muxes and index fields) over a dense core of the same shape",
             "",
             _md(cost),
             ""]
    if fmax:
        lines += ["## ECP5 place and route",
                  "",
                  f"`{fmax['config']}` ({fmax['nm']}, int{fmax['width']}) on an LFE5U-85F (CABGA381), Yosys "
                  f"`synth_ecp5` + nextpnr-ecp5 (out of context, seed 1): **Fmax {fmax['fmax_mhz']:.1f} MHz**; "
                  f"{fmax['LUT4']} LUT4, {fmax['FF']} FF, {fmax['MULT18']} MULT18X18D, {fmax['DP16KD']} DP16KD.",
                  ""]
    (out / "resources.md").write_text("\n".join(lines))

    fig, axes = figure(1, 2, figsize=(9, 3.6))
    sparse = df[df.nm != "dense"]
    for (dt, pes), g in sparse.groupby(["dtype", "PEs"], sort=True):
        g = g.sort_values("mults_per_pe")
        axes[0].plot(g.mults_per_pe, g.logic_LUT_per_PE, marker="o", label=f"{dt}, {pes} PEs")
        axes[1].plot(g.mults_per_pe, g.FF_per_PE, marker="o", label=f"{dt}, {pes} PEs")
    axes[0].set(xlabel="multipliers per PE", ylabel="logic LUTs per PE (incl. control)", ylim=(0, None),
                title="logic LUTs per PE, 2:8")
    axes[1].set(xlabel="multipliers per PE", ylabel="FFs per PE (incl. control)", ylim=(0, None),
                title="FFs per PE, 2:8")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    paths = save_figure(fig, out / "resources")
    return [out / "resources.csv", out / "resources.md", *paths]


def _md(df) -> str:
    def fmt(v):
        return f"{v:.1f}" if isinstance(v, float) and not float(v).is_integer() else (
            f"{int(v)}" if isinstance(v, float) else str(v))

    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def row_config(row) -> SATConfig:
    """The configuration a synthesized row (calibration.csv / resources.csv) was generated from."""
    return Point("sat-small", int(row.rows), int(row.cols), row.nm, dtype=row.dtype, mults=int(row.mults_per_pe)) \
        .config()


def _features(row) -> tuple[dict, dict]:
    """The regressors of hwsim.resources' LUT and FF rules for one synthesized row."""
    from hwsim.resources import core_features

    group = None if row.nm == "dense" else int(row.nm.split(":")[1])
    keep = 1 if group is None else int(row.nm.split(":")[0])
    return core_features(row_config(row), group, keep)


def calibrate(df, held_out=None) -> dict:
    """The fitted constants of the LUT rules (least squares over logic LUTs) and the FF rule's fixed part (the mean
    of synthesis minus the register count, whose constant is 1 by construction), over the rows not held out
    (`held_out(row)`; default hwsim.resources.held_out)."""
    import numpy as np

    from hwsim.resources import FF_PER_REGISTER_BIT, held_out as default_held_out

    is_held = held_out or default_held_out
    fit = df[[not is_held(r) for r in df.itertuples(index=False)]]
    feats = [_features(r)[0] for r in fit.itertuples(index=False)]
    names = list(feats[0])
    x = np.array([[f[n] for n in names] for f in feats], dtype=float)
    coef, *_ = np.linalg.lstsq(x, fit["LUT_logic"].to_numpy(dtype=float), rcond=None)
    regs = np.array([_features(r)[1]["regs"] for r in fit.itertuples(index=False)], dtype=float)
    fixed = float(np.mean(fit["FF"].to_numpy(dtype=float) - FF_PER_REGISTER_BIT * regs))
    return {"LUT": {n: round(float(c), 2) for n, c in zip(names, coef)}, "FF": {"fixed": round(fixed, 1)}}
