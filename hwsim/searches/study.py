"""The optimizer loop: Optuna's multi-objective samplers ask for designs, workers simulate them, Optuna is told.

Trials live in Optuna's RDB storage (a SQLite file in the output folder), so a killed search resumes where it
stopped. Each trial is one design point (config changes, method, options): a configuration over the board's
budget or one that is not a valid config is told PRUNED without a simulation; a simulated one is told its
objective values, with the per-workload numbers kept as trial attributes. A design simulated before (same
resolved config, method, options and workloads: the same `hwsim.keys.result_key`) is not simulated again.
Workers are local processes that keep the simulator's caches warm across trials, or a Dask cluster.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Callable

from hwsim.config import SATConfig
from hwsim.errors import HwsimError
from hwsim.searches.spec import Range, SearchSpec, choice_label, split_methods

STUDY_FILE = "study.sqlite3"
ATTR = "hwsim"  # the one user attribute of a trial: status, arch, key, per-workload numbers, metrics (one row each)


@dataclass(frozen=True)
class Design:
    """What one trial evaluates."""

    changes: dict[str, Any]
    method: str
    nm: str | None
    options: dict[str, Any]


def distributions(spec: SearchSpec) -> tuple[dict, dict]:
    """Optuna distributions of the space, and for categorical ones a label -> value map."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    dists, decode = {}, {}
    space = dict(spec.space)
    if "method" not in space and len(spec.methods) > 1:
        space["method"] = list(spec.methods)
    for path, dom in space.items():
        if isinstance(dom, Range):
            if dom.integer:
                dists[path] = IntDistribution(int(dom.low), int(dom.high), step=int(dom.step or 1), log=dom.log)
            else:
                dists[path] = FloatDistribution(float(dom.low), float(dom.high), step=dom.step, log=dom.log)
        else:
            labels = [choice_label(v) for v in dom]
            decode[path] = dict(zip(labels, dom))
            dists[path] = CategoricalDistribution(list(dict.fromkeys(labels)))
    return dists, decode


def design(params: dict, decode: dict, spec: SearchSpec) -> Design:
    """A trial's parameters as config changes, method and simulation options."""
    values = {p: decode[p][v] if p in decode else v for p, v in params.items()}
    method_text = values.pop("method", spec.methods[0])
    (method, nm), = split_methods([method_text])
    options = dict(spec.options)
    options.update({p[8:]: v for p, v in values.items() if p.startswith("options.")})
    changes = {p: v for p, v in values.items() if not p.startswith("options.")}
    return Design(changes, method, nm, options)


def evaluate(cfg: SATConfig, method: str, nm: str | None, batch: int, options: dict,
             workloads: list[tuple[str, int | None, int | None]]) -> list[dict]:
    """Simulate one design on every workload (runs in a worker): seconds, energy and cycles of each."""
    from hwsim.simulation import simulate

    out = []
    for name, resolution, classes in workloads:
        r = simulate(name, cfg, method, nm, batch, resolution=resolution, classes=classes, **options)
        out.append({"cycles": int(r.cycles), "seconds": float(r.seconds), "energy_j": float(r.energy_j)})
    return out


def metrics(per_model: list[dict], weights: list[float], cfg: SATConfig) -> dict[str, float]:
    """The objectives of a simulated design: weighted means over the workloads (weights sum to 1) of latency,
    energy and energy x latency; resources = the largest utilization of the board; plus the resource counts."""
    total = sum(weights)
    w = [x / total for x in weights]
    res = cfg.resources
    return {"latency": sum(wi * m["seconds"] for wi, m in zip(w, per_model)),
            "energy": sum(wi * m["energy_j"] for wi, m in zip(w, per_model)),
            "edp": sum(wi * m["seconds"] * m["energy_j"] for wi, m in zip(w, per_model)),
            "resources": max(res.utilization.values()),
            **{k: getattr(res, k) for k in ("dsp", "lut", "ff", "bram", "uram")}}


def violation(values: dict[str, float], bounds: dict[str, float]) -> float:
    """> 0 when a user bound is broken: the largest relative excess (Optuna's constraint convention)."""
    return max([(values[k] - b) / b for k, b in bounds.items()], default=-1.0)


def make_sampler(spec: SearchSpec, seed: int, trials: int):
    import optuna

    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "nsga2":
        # A population of about an eighth of the budget (8 to 50) leaves the search several generations.
        return optuna.samplers.NSGAIISampler(population_size=max(8, min(50, trials // 8)), seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def sqlite_storage(url: str):
    """Optuna's RDB storage on a SQLite file in write-ahead-log mode with `synchronous=NORMAL`: a commit does not
    wait for the disk (a trial writes a dozen small transactions), yet a killed process loses nothing committed."""
    import optuna
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(url)

    @event.listens_for(storage.engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    storage.engine.dispose()  # connections opened while the schema was made reconnect with the pragmas
    return storage


class Stored:
    """The loop works on an in-memory study (fast asks and tells) that is written through to the SQLite study in
    batches of `every` finished trials and at the end, also when the run is interrupted: a killed search loses at
    most the last batch, which the next run asks again."""

    def __init__(self, db, mem, storage=None, every: int = 16):
        self.db, self.mem, self.storage, self.every = db, mem, storage, every
        self.saved = {t.number for t in mem.get_trials(deepcopy=False)}
        self.pending = 0

    def finished_one(self) -> None:
        self.pending += 1
        if self.pending >= self.every:
            self.flush()

    def flush(self) -> None:
        from optuna.trial import TrialState

        done = (TrialState.COMPLETE, TrialState.PRUNED)
        new = [t for t in self.mem.get_trials(deepcopy=False, states=done) if t.number not in self.saved]
        if new:
            self.db.add_trials(new)
            self.saved.update(t.number for t in new)
        self.pending = 0

    def close(self) -> None:
        """Close the storage's connections (SQLite folds its write-ahead log back into the file)."""
        if self.storage is not None:
            self.storage.engine.dispose()


def open_study(storage_url: str, name: str, spec: SearchSpec, seed: int, trials: int) -> tuple[Stored, int]:
    """Create or reopen the stored study and load its finished trials into the in-memory one the loop uses;
    trials a killed run left RUNNING in storage are marked FAIL (they are asked again)."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = sqlite_storage(storage_url)
    directions = ["minimize"] * len(spec.objectives)
    db = optuna.create_study(study_name=name, storage=storage, directions=directions, load_if_exists=True)
    for t in db.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    finished = db.get_trials(deepcopy=True, states=(TrialState.COMPLETE, TrialState.PRUNED))
    # a resumed run continues the sampler's random stream from where the finished trials leave it
    sampler = make_sampler(spec, seed + len(finished), trials)
    mem = optuna.create_study(sampler=sampler, directions=directions)
    mem.add_trials(finished)
    return Stored(db, mem, storage), len(finished)


def run(stored: Stored, spec: SearchSpec, base: SATConfig, todo: int, executor, progress: bool,
        cache: dict[str, dict], jobs: int) -> dict[str, int]:
    """Ask, evaluate, tell until `todo` more trials have finished; counts of what happened."""
    from optuna.trial import TrialState

    from hwsim.keys import arch_digest, model_digest, result_key

    dists, decode = distributions(spec)
    workloads = [(w.name, w.resolution, w.classes) for w in spec.workloads]
    weights = [w.weight for w in spec.workloads]
    models_key = [(model_digest(w.name), w.resolution, w.classes) for w in spec.workloads]
    counts = {"simulated": 0, "cached": 0, "over_budget": 0, "invalid": 0}
    inflight: dict[Future, tuple] = {}
    asked = 0
    study = stored.mem
    bar = _bar(todo, progress)

    def finish(trial, cfg: SATConfig, key: str, per_model: list[dict]) -> None:
        values = metrics(per_model, weights, cfg)
        trial.set_user_attr(ATTR, {"status": "ok", "arch": cfg.name, "key": key, "per_model": per_model,
                                   "metrics": values, "violation": violation(values, spec.constraints.max)})
        for name, bound in spec.constraints.max.items():  # the samplers prefer designs within every bound
            trial.set_constraint(name, (values[name] - bound) / bound)
        study.tell(trial, [values[o] for o in spec.objectives])
        stored.finished_one()
        bar.update(1)

    def prune(trial, status: str, reason: str, arch: str = "") -> None:
        trial.set_user_attr(ATTR, {"status": status, "reason": reason[:300], "arch": arch})
        study.tell(trial, state=TrialState.PRUNED)
        stored.finished_one()
        counts[status.replace("-", "_")] += 1
        bar.update(1)

    try:
        while asked < todo or inflight:
            while asked < todo and len(inflight) < max(1, jobs):
                trial = study.ask(dists)
                asked += 1
                d = design(trial.params, decode, spec)
                try:
                    cfg = base.derive(d.changes) if d.changes else base
                    if d.nm:
                        from hwsim.dataflow.sparsity import NM

                        cfg.check_nm(NM.parse(d.nm))
                except HwsimError as exc:
                    prune(trial, "invalid", exc.what)
                    continue
                if spec.constraints.board and not cfg.resources.fits:
                    prune(trial, "over-budget", "; ".join(cfg.resources.over), cfg.name)
                    continue
                key = result_key(arch=arch_digest(cfg), method=d.method, nm=d.nm, batch=spec.batch,
                                 options=d.options, models=models_key)
                if key in cache:
                    counts["cached"] += 1
                    finish(trial, cfg, key, cache[key])
                    continue
                if executor is None:
                    cache[key] = evaluate(cfg, d.method, d.nm, spec.batch, d.options, workloads)
                    counts["simulated"] += 1
                    finish(trial, cfg, key, cache[key])
                    continue
                fut = executor.submit(evaluate, cfg, d.method, d.nm, spec.batch, d.options, workloads)
                inflight[fut] = (trial, cfg, key)
            if inflight:
                ready, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in ready:
                    trial, cfg, key = inflight.pop(fut)
                    cache[key] = fut.result()
                    counts["simulated"] += 1
                    finish(trial, cfg, key, cache[key])
    except BaseException:
        for fut in inflight:
            fut.cancel()
        raise
    finally:
        bar.close()
        stored.flush()
    return counts


def executor_for(scheduler: str | None, jobs: int) -> tuple[Any, Callable[[], None]]:
    """A concurrent.futures executor (local processes or a Dask cluster's) and how to close it; None: in-process."""
    if scheduler:
        from hwsim.sweeps import _connect

        client = _connect(scheduler)  # the sweep's handshake, bounded in time: a silent port cannot hang a search
        return client.get_executor(pure=False), client.close
    if jobs == 1:
        return None, lambda: None
    from concurrent.futures import ProcessPoolExecutor

    from hwsim.sweeps import _die_with_parent

    pool = ProcessPoolExecutor(max_workers=min(jobs, os.cpu_count() or 1), initializer=_die_with_parent,
                               initargs=(os.getpid(),))
    return pool, lambda: pool.shutdown(wait=False, cancel_futures=True)


def default_jobs(jobs: int | None) -> int:
    return jobs or os.cpu_count() or 1


def _bar(total: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="trial", desc="search", file=sys.stderr,
                disable=not progress or not sys.stderr.isatty())


__all__ = ["Design", "STUDY_FILE", "design", "distributions", "evaluate", "metrics", "open_study", "run",
           "violation"]
