"""The memory timeline of one planned training step (any model, scheme, target): bytes alive at each op,
stacked by tensor kind, with the arena size, the SRAM budget and the peak op marked (``hwsim tiny --plot``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hwsim.figures.style import PALETTE, PNG_DPI, figure

KIND_LABEL = {"input": "input image", "act": "activations", "saved": "saved inputs (slices)", "mask": "1-bit masks",
              "grad": "activation gradients", "wgrad": "weight/bias gradients", "param": "trainable copies",
              "cast": "fp32 copies (un-fused casts)", "optim": "optimizer state"}
PLOT_FORMATS = ("png", "pdf", "svg")


def kind_series(result) -> dict[str, np.ndarray]:
    """KB alive at each op per tensor kind (kinds that never appear are left out)."""
    n = len(result.ops)
    series: dict[str, np.ndarray] = {}
    for t in result.tensors.itertuples():
        s = series.setdefault(t.kind, np.zeros(n))
        s[t.start:t.end + 1] += t.bytes / 1024
    return {k: series[k] for k in KIND_LABEL if k in series}


def draw_timeline(result, ax) -> None:
    """Stacked bytes-alive-per-op of ``result`` (a TinyResult) on ``ax``."""
    series = kind_series(result)
    colors = {**{k: PALETTE[i] for i, k in enumerate(list(KIND_LABEL)[:7])}, "cast": "#000000", "optim": "#9e9e9e"}
    x = np.arange(len(result.ops))
    ax.stackplot(x, *series.values(), labels=[KIND_LABEL[k] for k in series], colors=[colors[k] for k in series],
                 linewidth=0)
    live = result.ops["live_bytes"].to_numpy()
    peak_at = int(live.argmax())
    who = ", ".join(f"{r.name} {r.bytes / 1024:.0f}KB" for r in result.peak_tensors().head(3).itertuples())
    ax.axvline(peak_at, color="k", lw=0.8, ls=":")
    ax.annotate(f"peak {result.max_live_kb:.1f}KB alive at {result.ops['name'].iloc[peak_at]}\n{who}",
                (peak_at, result.max_live_kb), xytext=(0.02, 0.97), textcoords="axes fraction", va="top", fontsize=7,
                arrowprops={"arrowstyle": "->", "lw": 0.6})
    phases = result.ops["phase"].to_numpy()
    if (phases != "forward").any():
        first_bwd = int((phases != "forward").argmax())
        ax.axvline(first_bwd, color="grey", lw=0.6)
        ax.text(first_bwd, 0, " backward", fontsize=7, color="grey", va="bottom")
    ax.axhline(result.peak_sram_kb, color="#555555", lw=0.8, ls="-.")
    ax.axhline(result.sram_budget_kb, color="#c00000", lw=1, ls="--")
    ax.text(len(x) - 1, result.sram_budget_kb, f"SRAM budget {result.sram_budget_kb:g}KB", color="#c00000",
            ha="right", va="bottom", fontsize=7)
    ax.text(len(x) - 1, result.peak_sram_kb, f"planned arena {result.peak_sram_kb:.1f}KB", color="#555555",
            ha="right", va="top", fontsize=7)
    ax.set_xlim(0, max(len(x) - 1, 1))
    ax.set_ylim(0, max(result.sram_budget_kb, result.peak_sram_kb) * 1.12)
    ax.set_xlabel("op (execution order)")
    ax.set_ylabel("bytes alive (KB)")
    ax.set_title(f"{result.model}, scheme {result.scheme}, {result.target}, reorder "
                 f"{'on' if result.reorder else 'off'}", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4)


def plot_timeline(result, path: str | Path, fmt: str | None = None) -> None:
    """Draw the timeline of ``result`` into one file; ``fmt`` (png, pdf or svg) defaults to the suffix."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fmt = fmt or path.suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise ValueError(f"plot: format {fmt!r} (expected one of {', '.join(PLOT_FORMATS)})")
    fig, ax = figure(figsize=(9, 3.8))
    draw_timeline(result, ax)
    meta = {"png": {"Software": "hwsim"}, "pdf": {"Creator": "hwsim", "CreationDate": None},
            "svg": {"Creator": "hwsim", "Date": None}}[fmt]  # no timestamps: reproducible files
    fig.savefig(path, format=fmt, dpi=PNG_DPI if fmt == "png" else None, metadata=meta)
    plt.close(fig)
