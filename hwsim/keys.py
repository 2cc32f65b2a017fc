"""Resume keys and cache keys: one function for every result that is stored and found again.

A key hashes what determines a result: the *contents* of the inputs (a model file and every file it pulls in,
the fully resolved architecture, a scheme), the options, and `MODEL_VERSION`, the version of the numbers the
cost model produces. A path is never part of a key (editing a file must change its key; moving it must not),
and neither is the package version (it does not move when the model does).
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any

# Bump on ANY change that moves a simulated number (cycles, energy, DRAM bytes, memory, latency), so stored
# rows computed by an older model are recomputed. tests/hwsim/test_keys.py records a fingerprint of reference
# numbers under this version and fails when they move while it stays the same.
# History: .1 calibrated MCU latency and patch lifetimes (issue 14); .2 data-ready DMA, WAR, banks (issue 12);
# .3 the zoo MobileNetV2 trains its classifier Dropout (issue 11); .4 FF-based static power recalibrated on
# synthesis (issue 13); .5 offline scheduling executes a static program, monotone in every duration (issue 12);
# .6 LUT rules refitted and FFs counted from the RTL's registers (issue 13: static power moves); .7 a vector
# pass's chunk is the fastest alone of power-of-two sizes from 64 KiB read that fit, GEMM exact-time ties only on
# equal times (issue 12); .8 a GEMM's tiling is the fastest alone of every candidate (branch and bound on a lower
# bound, no longer the exact time of the estimate's six best), optimizer steps under offline scheduling take the
# smallest chunk (issue 12); .9 each unit has its own DMA queue, the two sharing the DRAM bandwidth equally while
# both are served (no request waits behind the other unit's), times in fractional cycles (issue 12).
MODEL_VERSION = "2026.12.9"

MODEL_SUFFIXES = (".yaml", ".yml", ".onnx", ".csv")
_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _onnx_external_files(path: Path) -> list[Path]:
    """The external-data files an ONNX model names (read without loading any tensor data)."""
    try:
        import onnx
    except ImportError:
        return []
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - an unreadable model is the loader's error to report, not the key's
        return []
    names: set[str] = set()

    def walk(graph) -> None:
        tensors = list(graph.initializer) + [s.values for s in graph.sparse_initializer]
        for node in graph.node:
            for attr in node.attribute:
                tensors += ([attr.t] if attr.HasField("t") else []) + list(attr.tensors)
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    walk(sub)
        for tensor in tensors:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                names.update(e.value for e in tensor.external_data if e.key == "location")

    walk(proto.graph)
    return [path.parent / n for n in sorted(names)]


def pulled_in(path: str | os.PathLike) -> list[Path]:
    """A model file and every file it pulls in (ONNX external data), in a fixed order."""
    path = Path(path)
    files = [path]
    if path.suffix.lower() == ".onnx":
        files += [f for f in _onnx_external_files(path) if f.is_file()]
    return files


def model_digest(model: Any) -> str:
    """What identifies a workload: a zoo name as itself; a file by the contents of it and what it pulls in;
    an in-memory graph by its canonical description."""
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        is_file = isinstance(model, os.PathLike) or text.lower().endswith(MODEL_SUFFIXES) or os.sep in text
        if not is_file:
            return f"zoo:{text}"
        parts = [file_digest(f) for f in pulled_in(text)]
        return "file:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()
    if hasattr(model, "layers"):  # a models.Graph: frozen dataclasses with a stable repr
        return "graph:" + hashlib.sha256(repr(model).encode()).hexdigest()
    raise TypeError(f"model: {type(model).__name__} (expected a zoo name, a path or a Graph)")


def arch_digest(cfg: Any) -> str:
    """The fully resolved architecture (every field after `base:` chains and overrides), hashed: two routes to
    the same config share a key, a change in any file of the chain changes it."""
    dump = cfg.model_dump(mode="json") if hasattr(cfg, "model_dump") else cfg
    dump = {k: v for k, v in dump.items() if k != "name"} if isinstance(dump, dict) else dump
    return hashlib.sha256(_canonical(dump).encode()).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_default)


def _default(value: Any):
    if isinstance(value, os.PathLike):
        raise TypeError("a path in a key: hash its contents with model_digest or file_digest instead")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"{type(value).__name__} in a key (expected JSON-like values)")


def result_key(**parts: Any) -> str:
    """The key of a stored result: the parts (already content-hashed where they name files) and MODEL_VERSION,
    as canonical JSON, hashed to 20 hex digits."""
    blob = _canonical({"model_version": MODEL_VERSION, **parts})
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


__all__ = ["MODEL_VERSION", "arch_digest", "file_digest", "model_digest", "pulled_in", "result_key"]
