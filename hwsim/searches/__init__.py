"""Co-search: multi-objective search over architecture fields, N:M pattern and mapping options (Optuna).

    import hwsim
    res = hwsim.search("search.yaml", "out/", trials=200)
    res.front            # the Pareto set, one row per design D1, D2, ... with its arch file
    res.trials           # every trial: parameters, status, objectives, per-workload numbers

The spec (docs/search.md) is a sweep's with `space` instead of `grid`, plus `objectives`, `constraints`,
`trials`, `sampler` and `seed`. The study is stored in `out/study.sqlite3`: rerunning the same spec into the
same folder resumes it (and a larger `trials` extends it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hwsim.errors import HwsimError
from hwsim.searches.spec import SearchSpec, check, load_search_spec


@dataclass
class SearchResult:
    """What a search produced: the front, every trial, the counts of this run, and the files written."""

    front: pd.DataFrame
    trials: pd.DataFrame
    counts: dict
    files: list[Path] = field(default_factory=list)
    study_name: str = ""


def study_name(spec: SearchSpec, base) -> str:
    """The study's name: a result key of everything that determines its trials except their number, so a
    changed space, workload or cost model (MODEL_VERSION) starts a new study in the same storage."""
    from hwsim.keys import arch_digest, model_digest, result_key

    dump = spec.model_dump(mode="json", exclude={"trials", "arch", "models"})
    models = [(model_digest(w.name), w.resolution, w.classes, w.weight) for w in spec.workloads]
    return "hwsim-search-" + result_key(spec=dump, arch=arch_digest(base), models=models)


def search(spec, out: str | os.PathLike, *, trials: int | None = None, seed: int | None = None,
           scheduler: str | None = None, jobs: int | None = None, progress: bool = True) -> SearchResult:
    """Run (or resume) the search of `spec` (file, dict or SearchSpec) into the folder `out`.

    trials / seed override the spec's. scheduler: a dask.distributed scheduler address (trials evaluated on its
    workers); default: `jobs` local processes (default the CPU count; 1 evaluates in this process).
    """
    from hwsim.searches.front import write_outputs
    from hwsim.searches.study import STUDY_FILE, default_jobs, executor_for, open_study, run

    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler: {type(scheduler).__name__} (expected an address string like 'tcp://host:8786')")
    if not isinstance(progress, bool):
        raise TypeError(f"progress: {progress!r} (expected True or False)")
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: {type(out).__name__} (expected a folder path)")
    for name, value, hi in (("trials", trials, 100_000), ("seed", seed, 2**31 - 1), ("jobs", jobs, 1024)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or
                                  not (1 if name != "seed" else 0) <= value <= hi):
            raise HwsimError(f"{name}: {value!r} (expected an integer from {1 if name != 'seed' else 0} to {hi:,})",
                             f"--{name}")
    spec = load_search_spec(spec)
    updates = {k: v for k, v in (("trials", trials), ("seed", seed)) if v is not None}
    if updates:
        spec = spec.model_copy(update=updates)
    base = check(spec)
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise HwsimError("search: optuna is not installed (expected: pip install 'hwsim[search]')",
                         "hwsim search") from None
    out = Path(out)
    try:
        if out.exists() and not out.is_dir():
            raise HwsimError(f"out: {str(out)!r} is a file (expected a folder)", "--out")
        if not out.parent.is_dir():
            raise HwsimError(f"out: parent folder {str(out.parent)!r} does not exist", "--out")
    except OSError as exc:
        raise HwsimError(f"out: {str(out)[:80]!r}: {exc.strerror or exc}", "--out") from None
    name = study_name(spec, base)
    executor, close = executor_for(scheduler, default_jobs(jobs))  # a bad scheduler fails before any file
    stored = None
    try:
        out.mkdir(exist_ok=True)
        stored, finished = open_study(f"sqlite:///{(out / STUDY_FILE).resolve()}", name, spec, spec.seed,
                                      spec.trials)
        cache = _cache(stored.mem)
        counts = run(stored, spec, base, max(0, spec.trials - finished), executor, progress, cache,
                     default_jobs(jobs))
    finally:
        close()
        if stored is not None:
            stored.close()
    counts["resumed"] = finished
    outputs = write_outputs(stored.mem, spec, out, counts)
    files = [out / STUDY_FILE, out / "trials.csv", out / "pareto.csv", out / "pareto.md", *outputs["figures"],
             *map(Path, outputs["front"]["arch_file"])]
    return SearchResult(outputs["front"], outputs["trials"], counts, files, name)


def _cache(study) -> dict[str, list[dict]]:
    """Per-workload numbers of the designs this study already simulated, by key."""
    from optuna.trial import TrialState

    from hwsim.searches.study import ATTR

    attrs = [t.user_attrs.get(ATTR, {}) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return {a["key"]: a["per_model"] for a in attrs if "per_model" in a}


__all__ = ["SearchResult", "SearchSpec", "load_search_spec", "search"]
