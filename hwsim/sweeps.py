"""Design-space sweeps: a grid of config changes x models x methods, on local processes or a Dask cluster.

Every point is keyed by a hash of what determines its result (the resolved config, the contents of the model
file, the method, the batch and the cost model's version: `hwsim.keys`). Points stream to `<out>.part` (one JSON line each, flushed) as they
finish; at the end the full table, with `speedup` over the matching dense point, replaces `<out>` atomically.
A rerun with the same `--out` reads both files and computes only the missing points, so a sweep killed at any
moment finishes with every point exactly once.
"""
from __future__ import annotations

import itertools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hwsim.config import SATConfig, load_arch
from hwsim.config.sat import one_line
from hwsim.errors import HwsimError

MAX_POINTS = 1_000_000
RESULT_COLUMNS = ["arch", "cycles", "seconds", "energy_j", "dram_bytes", "macs", "static_w",
                  "dsp", "lut", "ff", "bram", "uram", "fits_board", "key"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class ModelEntry(_Strict):
    name: str = Field(min_length=1, max_length=4096, description="zoo name or model .yaml file")
    resolution: int | None = Field(None, ge=1, le=8192)
    classes: int | None = Field(None, ge=1, le=1_000_000)


class SweepSpec(_Strict):
    """The sweep file: `version: 1`, `arch`, `grid`, `models`, `methods`, `batch` (see docs/sweep.md)."""

    version: int = Field(ge=1, le=1)
    arch: str = Field("sat-vcu1525", min_length=1, max_length=4096, description="base preset or spec file")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="config path -> values (cartesian)")
    models: list[str | ModelEntry] = Field(min_length=1, max_length=1000)
    methods: list[str] = Field(["dense"], min_length=1, max_length=100, description="dense, bdwp:2:8, ...")
    batch: int | list[int] = Field(32, description="batch size, or a list of them (a coordinate)")

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid):
        for path, values in grid.items():
            if not values or len(values) > 10_000:
                raise ValueError(f"grid.{path}: {len(values)} values (expected 1 to 10,000)")
        return grid

    @field_validator("batch")
    @classmethod
    def _batch(cls, batch):
        for b in [batch] if isinstance(batch, int) else batch:
            if isinstance(b, bool) or not 1 <= b <= 1_000_000:
                raise ValueError(f"batch: {b!r} (expected an integer from 1 to 1,000,000)")
        if isinstance(batch, list) and not batch:
            raise ValueError("batch: [] (expected a batch size or a non-empty list)")
        return batch

    @property
    def model_entries(self) -> list[ModelEntry]:
        return [m if isinstance(m, ModelEntry) else ModelEntry(name=m) for m in self.models]

    @property
    def batches(self) -> list[int]:
        return [self.batch] if isinstance(self.batch, int) else list(self.batch)


@dataclass(frozen=True)
class Point:
    """One simulation of the sweep."""

    changes: tuple[tuple[str, Any], ...]
    model: str
    resolution: int | None
    classes: int | None
    method: str
    nm: str | None
    batch: int

    def coords(self) -> dict:
        grid = {p: v if isinstance(v, (int, float, str, bool)) else json.dumps(v) for p, v in self.changes}
        return {**grid, "model": self.model, "resolution": self.resolution, "classes": self.classes,
                "method": self.method, "nm": self.nm, "batch": self.batch}


def load_spec(spec: str | Path | dict) -> SweepSpec:
    """A sweep spec from a YAML file or a dict, or a one-line HwsimError naming the bad field."""
    where = "sweep spec"
    if isinstance(spec, (str, Path)):
        where = str(spec)
        data = _read_yaml(Path(spec))
    elif isinstance(spec, dict):
        data = spec
    elif isinstance(spec, SweepSpec):
        return spec
    else:
        raise TypeError(f"spec: {type(spec).__name__} (expected a path to a sweep .yaml or a dict)")
    if not isinstance(data, dict):
        raise HwsimError(f"spec: {type(data).__name__} at top level (expected a mapping with version:, grid:, ...)",
                         where)
    if "version" not in data:
        raise HwsimError("version: missing (expected version: 1)", where)
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise HwsimError(one_line(exc), where) from None


def plan(spec: SweepSpec) -> tuple[SATConfig, dict[tuple, SATConfig], list[Point]]:
    """Validate everything before any work: the base arch, every grid config, every model and method."""
    from hwsim import models
    from hwsim.dataflow.sparsity import NM, SparsityError, resolve

    base = load_arch(spec.arch)
    paths = list(spec.grid)
    combos = list(itertools.product(*(spec.grid[p] for p in paths)))
    methods = []
    for text in spec.methods:
        name, _, nm = text.partition(":")
        try:
            meth, nm_spec = resolve(name, nm or None)
        except SparsityError as exc:
            raise HwsimError(f"methods: {text!r}: {exc}", "sweep spec") from None
        methods.append((meth.value, str(nm_spec) if nm_spec else None))
    total = len(combos) * len(spec.models) * len(methods) * len(spec.batches)
    if total > MAX_POINTS:
        raise HwsimError(f"sweep: {total:,} points (expected at most {MAX_POINTS:,})", "sweep spec")
    configs = {}
    for combo in combos:
        changes = tuple(zip(paths, combo))
        try:
            cfg = base.derive(dict(changes))
        except HwsimError as exc:
            shown = ", ".join(f"{p}={v!r}" for p, v in changes)
            raise HwsimError(f"grid point {shown}: {exc.what}", "sweep spec") from None
        for _, nm in methods:
            if nm:
                cfg.check_nm(NM.parse(nm))
        configs[changes] = cfg
    for entry in spec.model_entries:
        try:
            models.load(entry.name, resolution=entry.resolution, classes=entry.classes)
        except models.ModelError as exc:
            raise HwsimError(f"models: {exc}", "sweep spec") from None
    points = [Point(changes, e.name, e.resolution, e.classes, meth, nm, b)
              for changes in configs for e in spec.model_entries for meth, nm in methods for b in spec.batches]
    return base, configs, points


def point_key(cfg: SATConfig, point: Point) -> str:
    """What determines a point's numbers: the resolved config, the workload's contents, the method, the batch
    and the cost model's version (hwsim.keys)."""
    from hwsim.keys import arch_digest, model_digest, result_key

    return result_key(arch=arch_digest(cfg), model=model_digest(point.model), resolution=point.resolution,
                      classes=point.classes, method=point.method, nm=point.nm, batch=point.batch)


def run_point(cfg: SATConfig, point: Point) -> dict:
    """Simulate one point; the row of the results table (without speedup)."""
    from hwsim.simulation import simulate

    res = simulate(point.model, cfg, point.method, point.nm, point.batch, resolution=point.resolution,
                   classes=point.classes)
    r = res.resources
    return {**point.coords(), "arch": cfg.name, "cycles": res.cycles, "seconds": res.seconds,
            "energy_j": res.energy_j, "dram_bytes": res.dram_bytes, "macs": res.macs, "static_w": cfg.static_w,
            **{k: r[k] for k in ("dsp", "lut", "ff", "bram", "uram", "fits_board")}}


def _run_keyed(cfg: SATConfig, point: Point, key: str) -> dict:
    return {**run_point(cfg, point), "key": key}


def sweep(spec, out: str | Path | None = None, *, scheduler: str | None = None, jobs: int | None = None,
          progress: bool = True) -> pd.DataFrame:
    """Run every point of `spec` (file, dict or SweepSpec); resume from `out` if it (or `<out>.part`) exists.

    scheduler: a dask.distributed scheduler address ("tcp://host:8786"); default: local processes (`jobs`,
    default the CPU count; 1 runs in this process). Returns the table in point order, with `speedup`.
    """
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler: {type(scheduler).__name__} (expected an address string like 'tcp://host:8786')")
    if not isinstance(progress, bool):
        raise TypeError(f"progress: {progress!r} (expected True or False)")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or not 1 <= jobs <= 1024):
        raise HwsimError(f"jobs: {jobs!r} (expected 1 to 1024 worker processes, or None for the CPU count)", "--jobs")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: {type(out).__name__} (expected a path to a .csv or .parquet file, or None)")
    spec = load_spec(spec)
    out = Path(out) if out is not None else None
    if out is not None:
        _check_out(out)
    _, configs, points = plan(spec)
    keys = [point_key(configs[p.changes], p) for p in points]
    done = _resume(out, set(keys)) if out is not None else {}
    todo = [(p, k) for p, k in zip(points, keys) if k not in done]
    part = _part(out) if out is not None else None
    bar = _bar(len(points), len(points) - len(todo), progress)
    sink = part.open("a", encoding="utf-8") if part is not None else None
    try:
        for row in _execute(configs, todo, scheduler, jobs):
            done[row["key"]] = row
            if sink is not None:
                sink.write(json.dumps(row, default=_json_default) + "\n")
                sink.flush()
            bar.update(1)
    finally:
        bar.close()
        if sink is not None:
            sink.close()
    table = finish(pd.DataFrame([done[k] for k in keys]), list(spec.grid))
    table.attrs.update(computed=len(todo), resumed=len(points) - len(todo))
    if out is not None:
        _write_table(table, out)
        part.unlink(missing_ok=True)
    return table


def finish(table: pd.DataFrame, grid_paths: list[str]) -> pd.DataFrame:
    """Add `speedup` (and `energy_saving`) over the dense point with the same other coordinates."""
    coords = [*grid_paths, "model", "resolution", "classes", "batch"]
    table = table.copy()
    dense = table[table["method"] == "dense"]
    if dense.empty:
        table["speedup"] = float("nan")
        table["energy_saving"] = float("nan")
    else:
        ref = dense[coords + ["cycles", "energy_j"]].rename(columns={"cycles": "_dc", "energy_j": "_de"})
        merged = table.merge(ref, on=coords, how="left", sort=False)
        table["speedup"] = (merged["_dc"] / merged["cycles"]).to_numpy()
        table["energy_saving"] = (1 - merged["energy_j"] / merged["_de"]).to_numpy()
    first = [*grid_paths, "model", "resolution", "classes", "method", "nm", "batch"]
    rest = [c for c in table.columns if c not in first and c not in ("speedup", "energy_saving", "key")]
    return table[first + ["speedup", "energy_saving"] + rest + ["key"]]


def _execute(configs, todo, scheduler, jobs):
    """Yield finished rows, in completion order."""
    if not todo:
        return
    if scheduler:
        yield from _execute_dask(configs, todo, scheduler)
        return
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(todo) == 1:
        for point, key in todo:
            yield _run_keyed(configs[point.changes], point, key)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
        futures = [pool.submit(_run_keyed, configs[p.changes], p, k) for p, k in todo]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _execute_dask(configs, todo, address):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise HwsimError("scheduler: dask.distributed is not installed (expected: pip install 'hwsim[dask]')",
                         "--scheduler") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise HwsimError(f"scheduler: cannot connect to {address!r}: {str(exc).splitlines()[0][:120]}",
                         "--scheduler") from None
    try:
        futures = [client.submit(_run_keyed, configs[p.changes], p, k, key=f"hwsim-{k}", pure=True)
                   for p, k in todo]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()


def _part(out: Path) -> Path:
    return out.with_name(out.name + ".part")


def _check_out(out: Path) -> None:
    if out.suffix not in (".csv", ".parquet"):
        raise HwsimError(f"out: {str(out)!r} (expected a .csv or .parquet file)", "--out")
    if out.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise HwsimError("out: Parquet needs pyarrow (expected: pip install pyarrow, or a .csv file)",
                             "--out") from None
    try:
        if out.is_dir():
            raise HwsimError(f"out: {str(out)!r} is a directory (expected a file path)", "--out")
        if not out.parent.is_dir():
            raise HwsimError(f"out: directory {str(out.parent)!r} does not exist", "--out")
    except OSError as exc:
        raise HwsimError(f"out: {str(out)[:80]!r}: {exc.strerror or exc}", "--out") from None


def _resume(out: Path, wanted: set[str]) -> dict[str, dict]:
    """Rows already computed: from a finished table and from the `.part` stream (a torn last line is dropped).

    The `.part` file is rewritten with only complete lines, so new rows never follow a torn one.
    """
    done: dict[str, dict] = {}
    if out.exists():
        try:
            old = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
        except Exception as exc:  # noqa: BLE001 - any unreadable table: say so in one line
            raise HwsimError(f"out: cannot read the existing {str(out)!r} to resume ({type(exc).__name__}); "
                             "remove it or choose another --out", "--out") from None
        if "key" in old.columns:
            for row in old.drop(columns=[c for c in ("speedup", "energy_saving") if c in old.columns]).to_dict(
                    "records"):
                if row["key"] in wanted:
                    done[row["key"]] = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
    part = _part(out)
    if part.exists():
        good = []
        for line in part.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and row.get("key") in wanted:
                done[row["key"]] = row
                good.append(line)
        tmp = part.with_name(part.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in good), encoding="utf-8")
        os.replace(tmp, part)
    return done


def _write_table(table: pd.DataFrame, out: Path) -> None:
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if out.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HwsimError(f"out: cannot write {str(out)!r}: {exc.strerror or exc}", "--out") from None


def _bar(total: int, initial: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="pt", desc="sweep", disable=not progress or not sys.stderr.isatty(),
                file=sys.stderr)


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(type(value).__name__)


def _read_yaml(path: Path):
    from hwsim.models.yamlsafe import YAMLInputError, load_file

    try:
        return load_file(path)
    except YAMLInputError as exc:
        raise HwsimError(f"spec: {exc}", "sweep spec") from None


__all__ = ["ModelEntry", "Point", "SweepSpec", "finish", "load_spec", "plan", "point_key", "run_point", "sweep"]
