"""What a search leaves: every trial as a table, the Pareto set (CSV + markdown), a figure labelling each front
design, and one arch file per front design (`version`, `base:` + changes) that `hwsim simulate` and `hwsim rtl`
take as they are."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from hwsim.searches.spec import OPTIONS, SearchSpec
from hwsim.searches.study import ATTR


def trials_table(study, spec: SearchSpec) -> pd.DataFrame:
    """One row per finished trial: parameters, status, objectives, per-workload numbers, resources."""
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        a = t.user_attrs.get(ATTR, {})
        row = {"trial": t.number, "status": a.get("status", "pruned"), **t.params, "arch": a.get("arch", ""),
               "key": a.get("key", ""), "reason": a.get("reason", "")}
        m = a.get("metrics")
        if m:
            row.update(m)
            row["feasible"] = a.get("violation", -1.0) <= 0
            for w, pm in zip(spec.workloads, a["per_model"]):
                row[f"{w.name}.seconds"] = pm["seconds"]
                row[f"{w.name}.energy_j"] = pm["energy_j"]
                row[f"{w.name}.cycles"] = pm["cycles"]
        else:
            row["feasible"] = False
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """True for the rows no other row dominates (all objectives minimized; duplicates keep their first row)."""
    n = len(values)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        le = np.all(values <= values[i], axis=1)
        lt = np.any(values < values[i], axis=1)
        dominated = np.any(le & lt)
        duplicate = np.any(np.all(values[:i] == values[i], axis=1))
        keep[i] = not dominated and not duplicate
    return keep


def hypervolume(values: np.ndarray, reference: np.ndarray) -> float:
    """The volume the points dominate up to `reference` (all objectives minimized), by Optuna's exact method."""
    from optuna._hypervolume import compute_hypervolume

    values = np.asarray(values, dtype=float)
    inside = values[np.all(values < reference, axis=1)]
    return float(compute_hypervolume(inside, np.asarray(reference, dtype=float))) if len(inside) else 0.0


def front_table(trials: pd.DataFrame, spec: SearchSpec) -> pd.DataFrame:
    """The feasible, non-dominated designs, labelled D1, D2, ... by the first objective."""
    if trials.empty or "latency" not in trials.columns:
        return pd.DataFrame(columns=["design", *spec.objectives])
    ok = trials[(trials["status"] == "ok") & trials["feasible"].astype(bool)]
    ok = ok.drop_duplicates("key")
    if ok.empty:
        return pd.DataFrame(columns=["design", *spec.objectives])
    front = ok[pareto_mask(ok[spec.objectives].to_numpy(dtype=float))]
    front = front.sort_values(list(spec.objectives)).reset_index(drop=True)
    front.insert(0, "design", [f"D{i + 1}" for i in range(len(front))])
    return front


def simulate_command(spec: SearchSpec, row: pd.Series, arch_file: str, workload) -> str:
    """The `hwsim simulate` command that reproduces a front design's numbers on one workload."""
    from hwsim.searches.study import design, distributions

    _, decode = distributions(spec)
    d = design(row_params(spec, row), decode, spec)
    cmd = ["hwsim simulate", f"--arch {arch_file}", f"--model {workload.name}"]
    cmd += [f"--resolution {workload.resolution}"] if workload.resolution else []
    cmd += [f"--classes {workload.classes}"] if workload.classes else []
    cmd += [f"--method {d.method}"] + ([f"--nm {d.nm}"] if d.nm else []) + [f"--batch {spec.batch}"]
    for name, value in d.options.items():
        if name in ("objective", "dataflow"):
            cmd.append(f"{OPTIONS[name]} {value}")
        elif value is False:
            cmd.append(OPTIONS[name])
    return " ".join(cmd)


def row_params(spec: SearchSpec, row: pd.Series) -> dict:
    """A table row's trial parameters as plain Python values (pandas gives numpy scalars)."""
    return {p: row[p].item() if hasattr(row[p], "item") else row[p] for p in _param_names(spec) if p in row.index}


def _param_names(spec: SearchSpec) -> list[str]:
    from hwsim.searches.study import distributions

    return list(distributions(spec)[0])


def arch_file(spec: SearchSpec, row: pd.Series, folder: Path, label: str) -> tuple[Path, dict]:
    """`folder/<label>.yaml`: `version`, `base:` (the spec's arch) and the design's config changes, nested."""
    from hwsim.searches.study import design, distributions

    _, decode = distributions(spec)
    d = design(row_params(spec, row), decode, spec)
    base = spec.arch
    if Path(base).suffix in (".yaml", ".yml"):  # a file: name it relative to where the arch file goes
        base = os.path.relpath(Path(base).resolve(), folder.resolve())
    data: dict = {"version": 1, "base": base}
    for path, value in sorted(d.changes.items()):
        node = data
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return folder / f"{label}.yaml", data


def write_outputs(study, spec: SearchSpec, out: Path, counts: dict) -> dict:
    """trials.csv, pareto.csv, pareto.md, pareto.{png,pdf,svg}, arch/D*.yaml; returns the tables and paths."""
    trials = trials_table(study, spec)
    front = front_table(trials, spec)
    arch_dir = out / "arch"
    arch_dir.mkdir(exist_ok=True)
    for old in arch_dir.glob("D*.yaml"):
        old.unlink()
    files, commands = [], []
    for _, row in front.iterrows():
        path, data = arch_file(spec, row, arch_dir, row["design"])
        m = row
        header = [f"# hwsim search: front design {row['design']} of {len(front)} "
                  f"({', '.join(f'{o} {m[o]:.6g}' for o in spec.objectives)})",
                  "# reproduce (each workload of the search), from the search's output folder:"]
        rel = path.relative_to(out).as_posix()  # written files name paths from the output folder: it may move
        header += [f"#   {simulate_command(spec, row, rel, w)}" for w in spec.workloads]
        path.write_text("\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False))
        files.append((str(path), rel))
        commands.append(tuple(" && ".join(simulate_command(spec, row, p, w) for w in spec.workloads)
                              for p in (str(path), rel)))
    written = front.assign(arch_file=[r for _, r in files], command=[r for _, r in commands])
    front = front.assign(arch_file=[a for a, _ in files], command=[a for a, _ in commands])
    trials.to_csv(out / "trials.csv", index=False)
    written.to_csv(out / "pareto.csv", index=False)
    (out / "pareto.md").write_text(_markdown(front, trials, spec, counts))
    figs = pareto_figure(trials, front, spec, out / "pareto")
    return {"trials": trials, "front": front, "figures": figs}


def _markdown(front: pd.DataFrame, trials: pd.DataFrame, spec: SearchSpec, counts: dict) -> str:
    units = {"latency": "latency (s)", "energy": "energy (J)", "edp": "EDP (J s)", "resources": "max utilization"}
    params = [p for p in _param_names(spec)]
    n_ok = int((trials.get("status", pd.Series(dtype=str)) == "ok").sum())
    from hwsim.keys import MODEL_VERSION

    lines = [f"# Search: Pareto set of {spec.arch}", "",
             f"Cost model version {MODEL_VERSION} (`hwsim.keys.MODEL_VERSION`).", "",
             f"{len(trials)} trials ({spec.sampler}, seed {spec.seed}): {n_ok} simulated designs, "
             f"{int((trials.get('status', pd.Series(dtype=str)) == 'over-budget').sum())} over the board budget and "
             f"{int((trials.get('status', pd.Series(dtype=str)) == 'invalid').sum())} invalid (not simulated). "
             f"Workloads: " + ", ".join(f"{w.name} (weight {w.weight:g})" for w in spec.workloads) +
             f", batch {spec.batch}. Objectives are weighted means over the workloads.", "",
             "| design | " + " | ".join(units[o] for o in spec.objectives) + " | " + " | ".join(params) +
             " | dsp | arch file |",
             "|---|" + "---|" * (len(spec.objectives) + len(params) + 2)]
    for _, row in front.iterrows():
        cells = [row["design"], *(f"{row[o]:.6g}" for o in spec.objectives), *(str(row[p]) for p in params),
                 f"{int(row['dsp']):,}", f"`arch/{Path(row['arch_file']).name}`"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pareto_figure(trials: pd.DataFrame, front: pd.DataFrame, spec: SearchSpec, stem: Path) -> list[Path]:
    """The first objective against each other one: every simulated design, the front labelled D1, D2, ..."""
    from matplotlib.ticker import FormatStrFormatter

    from hwsim.figures.style import figure, save_figure

    names = {"latency": "latency (s)", "energy": "energy (J)", "edp": "EDP (J s)", "resources": "max utilization"}
    objs = spec.objectives
    pairs = [(objs[0], o) for o in objs[1:]] or [("trial", objs[0])]
    fig, axes = figure(1, len(pairs), figsize=(5.0 * len(pairs), 4.2), squeeze=False)
    done = trials[trials["status"] == "ok"] if "status" in trials else trials
    for ax, (x, y) in zip(axes[0], pairs):
        if len(done):
            feas = done[done["feasible"].astype(bool)]
            ax.scatter(feas[x], feas[y], s=12, color="#999999", alpha=0.6, label="simulated designs")
            bad = done[~done["feasible"].astype(bool)]
            if len(bad):
                ax.scatter(bad[x], bad[y], s=12, marker="x", color="#D55E00", alpha=0.6, label="outside bounds")
        if len(front):
            ax.scatter(front[x], front[y], s=40, color="#0072B2", zorder=3, label="Pareto front")
            if x != "trial" and len(objs) == 2:  # with more objectives a 2-D projection of the front is no line
                line = front.sort_values(x)
                ax.plot(line[x], line[y], color="#0072B2", lw=1, ls="--", zorder=2)
            for i, (_, row) in enumerate(front.iterrows()):  # alternate sides so neighbours' labels stay apart
                ax.annotate(row["design"], (row[x], row[y]), textcoords="offset points", fontsize=7,
                            xytext=(5, 3) if i % 2 == 0 else (-5, -9), ha="left" if i % 2 == 0 else "right")
        for axis, col in ((ax.set_xscale, x), (ax.set_yscale, y)):
            shown = done[col] if len(done) and col in done else pd.Series(dtype=float)
            if col != "trial" and len(shown) and shown.min() > 0 and shown.max() / shown.min() > 8:
                axis("log")
                which = ax.xaxis if col == x else ax.yaxis
                which.set_major_formatter(FormatStrFormatter("%g"))
                which.set_minor_formatter(FormatStrFormatter("%g"))
                which.set_tick_params(which="minor", labelsize=6)
        ax.set_xlabel(names.get(x, x))
        ax.set_ylabel(names.get(y, y))
        ax.grid(True, alpha=0.25)
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle(f"Search on {spec.arch}: " + ", ".join(w.name for w in spec.workloads))
    return save_figure(fig, stem)


__all__ = ["arch_file", "front_table", "hypervolume", "pareto_figure", "pareto_mask", "simulate_command",
           "trials_table", "write_outputs"]
