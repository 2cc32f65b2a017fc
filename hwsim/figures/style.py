"""The house style for every figure hwsim draws, and the one way figures are saved."""
from __future__ import annotations

from pathlib import Path

PNG_DPI = 200
FORMATS = ("pdf", "svg", "png")
# Colour-blind-safe qualitative palette (Okabe & Ito), in the order series are drawn.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "axes.grid.axis": "y", "grid.alpha": 0.3, "axes.axisbelow": True, "legend.frameon": False,
    "figure.dpi": 100, "savefig.bbox": "tight", "svg.fonttype": "none", "pdf.fonttype": 42,
    "svg.hashsalt": "hwsim", "axes.prop_cycle": None,
}


def figure(*args, **kwargs):
    """plt.subplots under the house style (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcParams.update({**STYLE, "axes.prop_cycle": cycler(color=PALETTE)})
    return plt.subplots(*args, **kwargs)


def save_figure(fig, stem: str | Path) -> list[Path]:
    """Write `stem`.pdf, .svg and .png (200 dpi), each whole or not at all (hwsim.outputs), close the figure,
    return the paths."""
    import matplotlib.pyplot as plt

    from hwsim.outputs import atomic_write

    stem = Path(stem)
    paths = []
    for fmt in FORMATS:
        path = stem.with_name(f"{stem.name}.{fmt}")
        meta = {"Creator": "hwsim"} if fmt != "png" else {"Software": "hwsim"}
        if fmt == "pdf":
            meta["CreationDate"] = None  # reproducible files: no timestamp
        if fmt == "svg":
            meta["Date"] = None
        atomic_write(path, lambda tmp, fmt=fmt, meta=meta: fig.savefig(
            tmp, format=fmt, dpi=PNG_DPI if fmt == "png" else None, metadata=meta), "--out")
        paths.append(path)
    plt.close(fig)
    return paths


def label_bars(ax, fmt: str = "{:.2f}", fontsize: float = 6.5, rotation: float = 0) -> None:
    """Write each bar's value above it."""
    for container in ax.containers:
        ax.bar_label(container, labels=[fmt.format(v) if v == v else "" for v in container.datavalues],
                     fontsize=fontsize, padding=1.5, rotation=rotation)
