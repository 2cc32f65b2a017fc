"""hwsim's numba kernels compiled ahead of time into one CPython extension (numba.pycc), for the CLI's start-up.

`python -m hwsim.engine.native` (run by `make setup`, `make test` and `make bench`) runs a few simulations on the
JIT, takes the argument types each kernel was called with, and compiles those signatures into one extension
module with numba.pycc. `activate` (the CLI's `simulate` calls it first) loads it and hands it to
`hwsim.dataflow.jit`. The extension is plain machine code with numpy's C API: loading it takes milliseconds, where
importing numba and loading its cached kernels takes 0.6 s. It is kept in the user's cache folder (`HWSIM_CACHE`,
default ~/.cache/hwsim) under a hash of the kernels' sources and of the Python, numpy, numba and llvmlite
versions, so an edited kernel or an upgrade finds none and runs on the JIT until the next build. It needs a C
compiler and Python's headers. numba.pycc is pending deprecation upstream: when it goes, the build says so and
everything runs on the JIT as before.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

from hwsim.keys import file_digest

# every module whose kernels use `hwsim.dataflow.jit.njit` (tests/hwsim/test_native.py checks the list is complete)
KERNEL_MODULES = ("hwsim.engine.pipeline", "hwsim.engine.offline", "hwsim.engine.roofline",
                  "hwsim.engine.vector_walk", "hwsim.engine.walk", "hwsim.dataflow.candidate_kernel",
                  "hwsim.dataflow.program_kernel")

# the simulations whose kernel calls are compiled: the CLI's defaults and the options that reach other kernels
WORKLOADS = (
    {"model": "resnet50", "method": "dense"},
    {"model": "resnet50", "method": "bdwp", "nm": "2:8"},
    {"model": "resnet50", "method": "bdwp", "nm": "2:8", "offline": False},
    {"model": "vit", "method": "srste", "nm": "2:4", "objective": "energy", "batch": 8},
    {"model": "resnet18", "method": "bdwp", "nm": "2:8", "objective": "edp", "phases": ("ff",)},
    {"model": "vgg19", "arch": "sat-small", "method": "dense"},  # the roofline kernel (a GEMM no bound settles)
)

EXTENSION = "hwsim_native"


def key() -> str:
    """A hash of everything the compiled code depends on: the kernels' sources, this module and the decorator,
    and the versions of Python, numpy, numba and llvmlite."""
    paths = [Path(__file__), _source("hwsim.dataflow.jit")] + [_source(name) for name in KERNEL_MODULES]
    versions = [sys.version, sys.platform] + [metadata.version(p) for p in ("numpy", "numba", "llvmlite")]
    parts = [file_digest(path) for path in paths] + [repr(versions)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def folder() -> Path:
    """Where the extension for the current `key` lives (it may not exist)."""
    root = os.environ.get("HWSIM_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hwsim"
    return Path(root) / "native" / key()


def activate() -> bool:
    """Run this process's kernels from the extension, if one is built for the current sources and no kernel was
    made on the JIT yet. True if it is in use."""
    from hwsim.dataflow import jit

    if jit.using_native():
        return True
    exports = None if jit.made_on_jit() else load()
    return exports is not None and jit.use(exports)


def load() -> dict | None:
    """{"module.function": [(compiled function, argument types)]} from the extension built for the current
    sources, or None if there is none (or `HWSIM_NATIVE=0`)."""
    if os.environ.get("HWSIM_NATIVE", "1") == "0":
        return None
    where = folder()
    try:
        table = json.loads((where / "signatures.json").read_text())
        path = next(where.glob(f"{EXTENSION}*.so"), None) or next(where.glob(f"{EXTENSION}*.pyd"))
        spec = importlib.util.spec_from_file_location(EXTENSION, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (OSError, ValueError, StopIteration, ImportError):
        return None
    return {kernel: [(getattr(module, export), tuple(tuple(a) if isinstance(a, list) else a for a in arg_types))
                     for export, arg_types in entries] for kernel, entries in table.items()}


def signatures() -> dict:
    """{"module.function": [numba signature]} of every kernel the WORKLOADS call, run here on the JIT."""
    from numba.core.registry import CPUDispatcher

    from hwsim.dataflow.jit import using_native
    from hwsim.simulation import simulate

    if using_native():
        raise RuntimeError("signatures are collected on the JIT: this process runs the extension")
    for work in WORKLOADS:
        work = dict(work)
        simulate(work.pop("model"), work.pop("arch", "sat-vcu1525"), work.pop("method"), work.pop("nm", None),
                 work.pop("batch", 32), **work)
    found = {}
    for name in KERNEL_MODULES:
        module = sys.modules[name]
        for attr, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.__module__ == name and value.nopython_signatures:
                found[f"{name}.{attr}"] = list(value.nopython_signatures)
    return found


def build(force: bool = False, quiet: bool = False) -> Path:
    """Compile the extension for the current sources into `folder()` (nothing to do if it is there)."""
    target = folder()
    if (target / "signatures.json").is_file() and not force:
        return target
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    say("hwsim: compiling the kernels ahead of time (numba.pycc, about a minute) ...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycc's pending-deprecation notice: the module docstring says what then
        from numba.pycc import CC
    table, cc = {}, CC(EXTENSION)
    cc.verbose = False
    for kernel, sigs in signatures().items():
        fn = _py_function(kernel)
        for sig in sigs:
            arg_types = [_arg_type(t) for t in sig.args]
            if None in arg_types:
                continue  # a type the wrapper cannot check stays on the JIT
            export = f"k{sum(map(len, table.values()))}"
            cc.export(export, sig)(fn)
            table.setdefault(kernel, []).append([export, arg_types])
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        cc.output_dir = str(scratch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cc.compile()
        (scratch / "signatures.json").write_text(json.dumps(table, indent=1))
        if force and target.exists():
            shutil.rmtree(target)
        try:
            scratch.rename(target)  # whole or not at all; a concurrent build that finished first wins
        except OSError:
            if not (target / "signatures.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    n = sum(map(len, table.values()))
    say(f"hwsim: {n} kernel signatures compiled into {target} in {time.perf_counter() - t0:.0f} s")
    return target


def _source(module: str) -> Path:
    """A kernel module's file, found without importing it (its package's __init__ is imported, and is light)."""
    return Path(importlib.util.find_spec(module).origin)


def _py_function(kernel: str):
    module, _, name = kernel.rpartition(".")
    return getattr(sys.modules[module], name).py_func


def _arg_type(t):
    """A numba argument type as `jit._matches` checks it: (dtype, ndim, layout) for a writeable aligned array,
    "int64" / "float64" / "bool" for a scalar, None for anything else."""
    from numba.core import types

    if isinstance(t, types.Array):
        ok = t.mutable and t.aligned and str(t.dtype) in ("int64", "float64", "bool")
        return [str(t.dtype), t.ndim, t.layout] if ok else None
    return {types.int64: "int64", types.float64: "float64", types.boolean: "bool"}.get(t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hwsim.engine.native",
        description="Compile hwsim's kernels ahead of time (numba.pycc) so `hwsim simulate` starts without numba. "
                    "Nothing to do when the extension for the current sources and versions is already built.")
    parser.add_argument("--force", action="store_true", help="rebuild even if the extension is there")
    parser.add_argument("--where", action="store_true", help="print the extension's folder and whether it is built")
    args = parser.parse_args(argv)
    if args.where:
        built = (folder() / "signatures.json").is_file()
        print(f"{folder()} ({'built' if built else 'not built'})")
        return 0
    try:
        build(force=args.force)
    except Exception as exc:  # no compiler, no headers, pycc gone: the JIT still serves every kernel
        print(f"hwsim: the ahead-of-time kernels could not be built ({type(exc).__name__}: "
              f"{' '.join(str(exc).split())[:300]}); hwsim runs them on numba's JIT", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
