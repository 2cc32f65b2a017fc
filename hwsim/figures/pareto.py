"""Latency vs energy of a sweep, one panel per model, with the Pareto front and over-budget points marked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import ScalarFormatter

from hwsim.figures.style import figure, save_figure


def pareto_front(seconds: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both latency and energy, by increasing latency."""
    order = np.lexsort((energy, seconds))
    front, best = [], np.inf
    for i in order:
        if energy[i] < best:
            front.append(i)
            best = energy[i]
    return np.array(front, dtype=int)


def pareto_plot(table: pd.DataFrame, stem: str | Path) -> list[Path]:
    """One panel per model: every point, methods by marker, the front of the in-budget points as a line."""
    models = list(dict.fromkeys(table["model"]))
    fig, axes = figure(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    runs = table.assign(run=table["method"] + table["nm"].fillna("").map(lambda s: f" {s}" if s else ""))
    markers = dict(zip(dict.fromkeys(runs["run"]), "os^Dvp*"))
    for ax, model in zip(axes[0], models):
        part = runs[runs["model"] == model]
        for run, rows in part.groupby("run", sort=False):
            ok = rows[rows["fits_board"].astype(bool)]
            ax.scatter(ok["seconds"] * 1e3, ok["energy_j"], marker=markers[run], s=22, label=run, alpha=0.8)
            over = rows[~rows["fits_board"].astype(bool)]
            if len(over):
                ax.scatter(over["seconds"] * 1e3, over["energy_j"], marker=markers[run], s=22, facecolors="none",
                           edgecolors="#D55E00", label=f"{run} (over board budget)")
        ok = part[part["fits_board"].astype(bool)]
        if len(ok):
            idx = pareto_front(ok["seconds"].to_numpy(), ok["energy_j"].to_numpy())
            front = ok.iloc[idx]
            ax.plot(front["seconds"] * 1e3, front["energy_j"], color="k", lw=1, ls="--", marker="o", ms=10,
                    mfc="none", label="Pareto front (in budget)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_formatter(ScalarFormatter())
        ax.set_title(model)
        ax.set_xlabel("latency per iteration (ms)")
        ax.grid(True, which="both", axis="both", alpha=0.25)
    axes[0][0].set_ylabel("energy per iteration (J)")
    axes[0][-1].legend(loc="best")
    fig.suptitle("Sweep: latency vs energy (hollow: over the board's resource budget)")
    return save_figure(fig, stem)
