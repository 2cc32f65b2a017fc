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
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hwsim.config import SATConfig, load_arch
from hwsim.config.sat import one_line
from hwsim.errors import HwsimError
from hwsim.models.reading import show_path

MAX_POINTS = 1_000_000
MAX_SPEC_VALUES = 50_000
"""Most values a sweep spec file may hold (a grid of 10,000 values on each of a few paths, with room to spare):
a longer spec is refused while it is composed, before its values are built and validated."""
MAX_RESUME_BYTES = 1 << 30
"""Largest results table or stream read back to resume (a row is about 400 bytes: 1M points fit)."""
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
    over_budget: Literal["prune", "keep"] = Field("prune", description="configs over the board's resource budget: "
                                                                      "listed and not simulated, or simulated")

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


def spec_document(spec, kind: str, keys: str) -> tuple[dict, str]:
    """A sweep or search spec file (bounded YAML) or dict as a mapping with `version:`, and where it came from
    (for error messages); anything else is a one-line HwsimError or a TypeError naming the argument."""
    where = f"{kind} spec"
    if isinstance(spec, (str, Path)):
        where = str(spec)
        data = _read_yaml(Path(spec), where)
    elif isinstance(spec, dict):
        data = spec
    else:
        raise TypeError(f"spec: {type(spec).__name__} (expected a path to a {kind} .yaml or a dict)")
    if not isinstance(data, dict):
        raise HwsimError(f"spec: {type(data).__name__} at top level (expected a mapping with {keys})", where)
    if "version" not in data:
        raise HwsimError("version: missing (expected version: 1)", where)
    return data, where


def load_spec(spec: str | Path | dict) -> SweepSpec:
    """A sweep spec from a YAML file or a dict, or a one-line HwsimError naming the bad field."""
    if isinstance(spec, SweepSpec):
        return spec
    data, where = spec_document(spec, "sweep", "version:, grid:, ...")
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise HwsimError(one_line(exc), where) from None


def plan(spec: SweepSpec) -> tuple[SATConfig, dict[tuple, SATConfig], list[Point]]:
    """Validate everything before any work: the base arch, every grid config, every model and method."""
    from hwsim import models
    from hwsim.dataflow.sparsity import NM, SparsityError, resolve
    from hwsim.graphs import is_zoo_name, zoo_graph

    base = load_arch(spec.arch)
    paths = list(spec.grid)
    for path in paths:
        _refuse_duplicates(f"grid.{path}", spec.grid[path])
    _refuse_duplicates("models", [m.model_dump() for m in spec.model_entries])
    _refuse_duplicates("methods", spec.methods)
    _refuse_duplicates("batch", spec.batches)
    total = math.prod(len(v) for v in spec.grid.values()) * len(spec.models) * len(spec.methods) * len(spec.batches)
    if total > MAX_POINTS:  # counted from the sizes, before anything is enumerated
        raise HwsimError(f"sweep: {total:,} points (expected at most {MAX_POINTS:,})", "sweep spec")
    combos = list(itertools.product(*(spec.grid[p] for p in paths)))
    methods = []
    for text in spec.methods:
        name, _, nm = text.partition(":")
        try:
            meth, nm_spec = resolve(name, nm or None)
        except SparsityError as exc:
            raise HwsimError(f"methods: {text!r}: {exc}", "sweep spec") from None
        methods.append((meth.value, str(nm_spec) if nm_spec else None))
    _refuse_duplicates("methods", methods)  # "bdwp:2:8" and "bdwp: 2:8" are one method
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
            if is_zoo_name(entry.name):  # built once: the points simulate the same graph
                zoo_graph(entry.name, entry.resolution, entry.classes)
            else:
                models.load(entry.name, resolution=entry.resolution, classes=entry.classes)
        except models.ModelError as exc:
            raise HwsimError(f"models: {exc}", "sweep spec") from None
    points = [Point(changes, e.name, e.resolution, e.classes, meth, nm, b)
              for changes in configs for e in spec.model_entries for meth, nm in methods for b in spec.batches]
    return base, configs, points


def _refuse_duplicates(field: str, values: list) -> None:
    """Refuse a coordinate list naming a value twice: every point would run twice and collide on its key."""
    seen = set()
    for value in values:
        text = json.dumps(value, sort_keys=True, default=str)
        if text in seen:
            raise HwsimError(f"{field}: {show_path(text, 60)} appears twice (expected distinct values)", "sweep spec")
        seen.add(text)


def inputs(spec_path, spec: SweepSpec) -> list[Path]:
    """The files a sweep reads (the spec, the arch file, model files): no output may be one of them."""
    from hwsim.keys import pulled_in
    from hwsim.outputs import input_paths

    files = input_paths(spec_path, spec.arch, *(e.name for e in spec.model_entries))
    return [f for path in files for f in (pulled_in(path) if path.suffix.lower() == ".onnx" else [path])]


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


def over_budget(configs: dict[tuple, SATConfig]) -> list[dict]:
    """The grid configs whose resource estimate exceeds their board: their changes, name and what is over."""
    return [{**dict(changes), "arch": cfg.name, "over": "; ".join(cfg.resources.over)}
            for changes, cfg in configs.items() if not cfg.resources.fits]


def sweep(spec, out: str | Path | None = None, *, scheduler: str | None = None, jobs: int | None = None,
          progress: bool = True, keep_over_budget: bool | None = None) -> pd.DataFrame:
    """Run every point of `spec` (file, dict or SweepSpec); resume from `out` if it (or `<out>.part`) exists.

    scheduler: a dask.distributed scheduler address ("tcp://host:8786"); default: local processes (`jobs`,
    default the CPU count; 1 runs in this process). Returns the table in point order, with `speedup`.
    Configs over the board budget are pruned before any simulation (the spec's `over_budget: prune`, the
    default) and listed in `table.attrs["pruned"]` (and `<out stem>_pruned.csv`); `keep_over_budget=True` (or
    `over_budget: keep`) simulates them too, flagged `fits_board: false`.
    """
    if keep_over_budget is not None and not isinstance(keep_over_budget, bool):
        raise TypeError(f"keep_over_budget: {keep_over_budget!r} (expected True, False or None for the spec's)")
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler: {type(scheduler).__name__} (expected an address string like 'tcp://host:8786')")
    if not isinstance(progress, bool):
        raise TypeError(f"progress: {progress!r} (expected True or False)")
    if jobs is not None:
        if isinstance(jobs, bool) or not isinstance(jobs, int):
            raise TypeError(f"jobs: {jobs!r} is a {type(jobs).__name__} (expected an int from 1 to 1024, or None)")
        if not 1 <= jobs <= 1024:
            raise HwsimError(f"jobs: {jobs!r} (expected 1 to 1024 worker processes, or None for the CPU count)",
                             "--jobs")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: {type(out).__name__} (expected a path to a .csv or .parquet file, or None)")
    spec_path = spec
    spec = load_spec(spec)
    out = Path(out) if out is not None else None
    if out is not None:
        _check_out(out)
    _, configs, points = plan(spec)
    keep = spec.over_budget == "keep" if keep_over_budget is None else keep_over_budget
    pruned = [] if keep else over_budget(configs)
    if pruned:
        points = [p for p in points if configs[p.changes].resources.fits]
    part = _part(out) if out is not None else None
    if out is not None:  # neither the table nor its stream may be an input
        from hwsim.outputs import output_file

        files = inputs(spec_path, spec)
        output_file(out, "--out", files)
        output_file(part, "--out", files)
    keys = [point_key(configs[p.changes], p) for p in points]
    client = _connect(scheduler) if scheduler else None  # a bad scheduler fails here, before OUT.part exists
    try:
        done = _resume(out, set(keys)) if out is not None else {}
        todo = [(p, k) for p, k in zip(points, keys) if k not in done]
        bar = _bar(len(points), len(points) - len(todo), progress)
        sink = None
        try:
            if part is not None and todo:
                from hwsim.outputs import open_append

                sink = open_append(part, "--out")
            for row in _execute(configs, todo, client, jobs):
                done[row["key"]] = row
                if sink is not None:
                    sink.write(json.dumps(row, default=_json_default) + "\n")
                    sink.flush()
                bar.update(1)
        finally:
            bar.close()
            if sink is not None:
                sink.close()
    finally:
        if client is not None:
            client.close()
    rows = [done[k] for k in keys]
    table = finish(pd.DataFrame(rows) if rows else _empty(spec), list(spec.grid))
    table.attrs.update(computed=len(todo), resumed=len(points) - len(todo), pruned=pruned)
    if out is not None:
        _write_table(table, out)
        part.unlink(missing_ok=True)
        listing = pruned_path(out)
        if pruned:
            _write_table(pd.DataFrame(pruned), listing)
        else:
            listing.unlink(missing_ok=True)
    return table


def pruned_path(out: Path) -> Path:
    """Where the list of pruned configs goes: `<out stem>_pruned.csv` beside the table."""
    return out.with_name(f"{out.stem}_pruned.csv")


def _empty(spec: SweepSpec) -> pd.DataFrame:
    """The table with no rows (every config pruned)."""
    return pd.DataFrame(columns=[*spec.grid, "model", "resolution", "classes", "method", "nm", "batch",
                                 *RESULT_COLUMNS])


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


HANDSHAKE_SECONDS = 2.0
"""Longest wait for a scheduler to answer, connection and handshake together (a LAN scheduler answers in ms)."""


def _execute(configs, todo, client, jobs):
    """Yield finished rows, in completion order."""
    if not todo:
        return
    if client is not None:
        yield from _execute_dask(configs, todo, client)
        return
    jobs = min(jobs or os.cpu_count() or 1, os.cpu_count() or 1, len(todo))  # never more processes than cores
    if jobs == 1:
        for point, key in todo:
            yield _run_keyed(configs[point.changes], point, key)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs, initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(_run_keyed, configs[p.changes], p, k) for p, k in todo]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _die_with_parent(parent: int) -> None:
    """Pool worker set-up: exit as soon as the sweep that started it is gone (even killed with -9, when no
    clean-up runs), instead of computing orphaned points."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="hwsim-parent-watch", daemon=True).start()


def _connect(address: str):
    """A dask.distributed Client for ``address``, after a handshake bounded by HANDSHAKE_SECONDS in total: a
    refused port, a silent one, or a service that is not a Dask scheduler fails in seconds with one line."""
    import socket
    import time
    from urllib.parse import urlsplit

    from hwsim.models.reading import one_line as _line

    shown = _line(repr(address), 80)
    start = time.monotonic()
    try:  # a refused or unreachable port fails at once
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        if parts.scheme in ("tcp", "tls") and parts.hostname:
            socket.create_connection((parts.hostname, parts.port or 8786), timeout=HANDSHAKE_SECONDS).close()
    except (OSError, ValueError) as exc:
        raise HwsimError(f"scheduler: cannot connect to {shown}: {_line(getattr(exc, 'strerror', None) or exc, 80)} "
                         "(expected a Dask scheduler's address)", "--scheduler") from None
    budget = max(HANDSHAKE_SECONDS - (time.monotonic() - start), 0.5)
    try:
        import asyncio

        from distributed import Client
        from distributed.comm import connect
    except ImportError:
        raise HwsimError("scheduler: dask.distributed is not installed (expected: pip install 'hwsim[dask]')",
                         "--scheduler") from None

    async def identity():
        comm = await connect(address, timeout=budget)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()

    async def bounded():
        return await asyncio.wait_for(identity(), budget)

    try:
        reply = asyncio.run(bounded())
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        why = _line(str(exc).splitlines()[0] if str(exc) else "no answer", 100)
        raise HwsimError(f"scheduler: cannot connect to {shown}: {why} (expected a Dask scheduler answering within "
                         f"{HANDSHAKE_SECONDS:g} s)", "--scheduler") from None
    except Exception as exc:  # noqa: BLE001 - a service speaking another protocol fails to decode in many ways
        raise HwsimError(f"scheduler: {shown} did not answer as a Dask scheduler ({type(exc).__name__})",
                         "--scheduler") from None
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        raise HwsimError(f"scheduler: {shown} is not a Dask scheduler (expected the address of one)", "--scheduler")
    try:
        return Client(address, timeout=f"{HANDSHAKE_SECONDS * 3:g}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise HwsimError(f"scheduler: cannot connect to {shown}: {_line(str(exc), 100)}", "--scheduler") from None


def _execute_dask(configs, todo, client):
    from distributed import as_completed

    futures = [client.submit(_run_keyed, configs[p.changes], p, k, key=f"hwsim-{k}", pure=True) for p, k in todo]
    for fut in as_completed(futures):
        yield fut.result()


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
    from hwsim.models.reading import FileInputError, check_file

    done: dict[str, dict] = {}
    part = _part(out)
    for path in (out, part):  # read back only regular files of a plausible size (a FIFO would block)
        if os.path.lexists(path):
            try:
                check_file(path, MAX_RESUME_BYTES, "a results table or stream written by hwsim sweep")
            except FileInputError as exc:
                raise HwsimError(f"out: {exc}", "--out") from None
    if part.is_symlink():
        raise HwsimError(f"out: {show_path(part)} is a symlink (expected the sweep's own stream file)", "--out")
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
    if part.exists():
        good = []
        with open(part, encoding="utf-8", errors="replace") as stream:
            lines = [line.rstrip("\n") for line in stream]
        for line in lines:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and row.get("key") in wanted:
                done[row["key"]] = row
                good.append(line)
        from hwsim.outputs import atomic_write

        atomic_write(part, lambda tmp: tmp.write_text("".join(line + "\n" for line in good), encoding="utf-8"),
                     "--out")
    return done


def _write_table(table: pd.DataFrame, out: Path) -> None:
    from hwsim.outputs import atomic_write

    if out.suffix == ".parquet":
        atomic_write(out, lambda tmp: table.to_parquet(tmp, index=False), "--out")
    else:
        atomic_write(out, lambda tmp: table.to_csv(tmp, index=False), "--out")


def _bar(total: int, initial: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="pt", desc="sweep", disable=not progress or not sys.stderr.isatty(),
                file=sys.stderr)


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(type(value).__name__)


def _read_yaml(path: Path, where: str = "sweep spec"):
    from hwsim.models.yamlsafe import YAMLInputError, load_file

    try:
        return load_file(path, max_nodes=MAX_SPEC_VALUES)
    except YAMLInputError as exc:
        raise HwsimError(f"spec: {exc}", where) from None


__all__ = ["ModelEntry", "Point", "SweepSpec", "finish", "load_spec", "over_budget", "plan", "point_key",
           "pruned_path", "run_point", "sweep"]
