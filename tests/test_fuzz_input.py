"""Fuzzing the input contract: generated model and arch YAML documents, valid and mutated (wrong types, huge
numbers, deep nesting, aliases, unknown and missing keys, non-UTF-8 and binary bytes), go through the CLI's
``main()``. Each run must either succeed (exit 0, a JSON object on stdout) or fail with exactly one stderr line
``hwsim: error: ...`` and exit 2, within 5 s and 1 GB, leaving nothing in its output folder."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hwsim.cli import main

SECONDS = 5.0
MEMORY = 1 << 30
ARCH = yaml.safe_load(files("hwsim.presets").joinpath("sat-small.yaml").read_text())


def _arch_refuses(text: str) -> bool:
    """Probe: does the arch loader turn this document into a ConfigError (rather than crash or accept it)?"""
    from hwsim.config import load_arch
    from hwsim.errors import ConfigError

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "probe.yaml"
        path.write_text(text)
        try:
            load_arch(path)
        except ConfigError:
            return True
        except Exception:  # noqa: BLE001 - a crash is exactly what the probe looks for
            return False
    return False


# The arch loader reads through hwsim.models.yamlsafe and bounds every field, so arch documents get the full set
# of mutations; test_arch_loader_refuses_deep_and_huge pins both properties.
ARCH_YAML_SAFE = ARCH_BOUNDED = True


def test_arch_loader_refuses_deep_and_huge():
    assert _arch_refuses("version: 1\nname: " + "[" * 5000 + "]" * 5000 + "\n")
    assert _arch_refuses(yaml.safe_dump({**ARCH, "selector": {**ARCH["selector"], "lanes": 10 ** 20}}))

# ---- valid documents -------------------------------------------------------------------------------------

conv = st.fixed_dictionaries({"op": st.just("conv2d"), "out_channels": st.integers(1, 12)},
                             optional={"kernel": st.sampled_from([1, 3, [1, 3]]), "padding": st.integers(0, 1),
                                       "stride": st.integers(1, 2), "bias": st.booleans()}).map(
    lambda d: {"kernel": 1, **d})
simple = st.sampled_from([{"op": "relu"}, {"op": "norm", "norm": "batch"}, {"op": "gelu"},
                          {"op": "pool", "mode": "max", "kernel": 2, "stride": 1}])
head = st.just([{"op": "pool", "mode": "avg", "global": True}, {"op": "reshape", "shape": [-1]}])
model_doc = st.builds(
    lambda name, c, hw, body, tail, classes: copy.deepcopy({
        "name": name, "input": [c, hw, hw],
        "layers": body + (tail + [{"op": "linear", "out_features": classes}] if tail is not None else [])}),
    st.text("abcxyz-_0123456789", min_size=1, max_size=12), st.integers(1, 6), st.integers(4, 12),
    st.lists(st.one_of(conv, simple), min_size=1, max_size=5), st.one_of(st.none(), head), st.integers(1, 10))


token_layer = st.one_of(
    st.builds(lambda d: {"op": "linear", "out_features": d}, st.integers(1, 16)),
    st.sampled_from([{"op": "norm", "norm": "layer"}, {"op": "softmax"}, {"op": "gelu"}, {"op": "posembed"},
                     {"op": "slice", "axis": 0, "start": 0, "stop": 1}, {"op": "reshape", "shape": [-1]}]))
token_doc = st.builds(
    lambda t, d, body: copy.deepcopy({
        "name": "tokens", "input": [t, d], "input_grad": True,
        "layers": [{"name": "proj", "op": "linear", "out_features": d}, {"name": "act", "op": "gelu"},
                   {"name": "res", "op": "add", "inputs": ["proj", "act"]},
                   {"name": "scores", "op": "matmul", "inputs": ["res", "res"], "transpose_b": True}] + body}),
    st.integers(1, 8), st.integers(1, 16), st.lists(token_layer, max_size=4))
model_doc = st.one_of(model_doc, token_doc)


def arch_doc() -> st.SearchStrategy:
    """The small preset with a few of its numbers changed within plausible ranges."""
    tweaks = st.fixed_dictionaries({}, optional={
        ("array", "rows"): st.sampled_from([2, 4, 8]), ("array", "cols"): st.sampled_from([2, 4, 8]),
        ("buffers", "a_kib"): st.sampled_from([8, 16, 64]), ("buffers", "c_kib"): st.sampled_from([4, 8, 32]),
        ("dram", "channels"): st.integers(1, 4), ("clock_mhz",): st.sampled_from([50, 100, 200])})

    def apply(changes):
        doc = copy.deepcopy(ARCH)
        for path, value in changes.items():
            _set(doc, path, value)
        return doc

    return tweaks.map(apply)


# ---- mutations -------------------------------------------------------------------------------------------

SMALL_BAD_VALUES = st.one_of(
    st.sampled_from([True, False, None, "32", "", "x" * 300, 32.0, -1, 0, float("inf"), float("nan"), [], {},
                     [[[[[[1]]]]]], {"a": {"b": {"c": 1}}}]),
    st.integers(-1000, 1000), st.floats(-1000, 1000), st.text(max_size=20), st.binary(max_size=8))
BAD_VALUES = st.one_of(SMALL_BAD_VALUES, st.sampled_from([10 ** 20, -(10 ** 20), 2 ** 63, 10 ** 300, 1e308]),
                       st.integers(), st.floats())


def _paths(doc, prefix=()):
    """Every (path) to a value inside nested dicts and lists."""
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _paths(value, prefix + (i,))


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def _set(doc, path, value):
    _get(doc, path[:-1])[path[-1]] = value


@st.composite
def mutated(draw, base: st.SearchStrategy, values: st.SearchStrategy = BAD_VALUES, nesting: int = 200) -> object:
    """A document with zero to three structural mutations."""
    doc = copy.deepcopy(draw(base))  # strategies may share objects: never mutate what they hand out
    for _ in range(draw(st.integers(0, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["value", "value", "delete", "unknown", "nest"]))
        parent = _get(doc, path[:-1])
        if kind == "value":
            _set(doc, path, draw(values))
        elif kind == "delete":
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        elif kind == "unknown" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "Rows", "layers2", "op ", 7]))] = 1
        elif kind == "nest":
            value = _get(doc, path)
            for _ in range(draw(st.integers(1, nesting))):
                value = [value]
            _set(doc, path, value)
    return doc


def bomb(levels: int) -> str:
    lines = ["b0: &b0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _dump(doc) -> str:
    try:
        return yaml.safe_dump(doc, sort_keys=False)
    except Exception:  # noqa: BLE001 - e.g. bytes keys: fall back to the repr, which is YAML-ish garbage
        return repr(doc)


@st.composite
def document(draw, base: st.SearchStrategy, values: st.SearchStrategy = BAD_VALUES, yaml_attacks: bool = True,
             nesting: int = 200) -> bytes:
    """YAML bytes: a (mutated) document, then maybe a text-level mutation."""
    text = _dump(draw(mutated(base, values, nesting)))
    attacks = ["bomb", "anchor", "deep", "self"] if yaml_attacks else []
    kind = draw(st.sampled_from(["none"] * 6 + ["truncate", "bytes", "binary", "latin1", *attacks]))
    if kind == "bomb":
        text += bomb(draw(st.integers(2, 9)))
    elif kind == "anchor":
        text = text.replace("\n", " &a1\n", 1) + "extra_alias: *a1\n" if "\n" in text else text
    elif kind == "truncate":
        text = text[: draw(st.integers(0, max(len(text) - 1, 0)))]
    elif kind == "deep":
        depth = draw(st.integers(50, 5000))
        text += "deep: " + "[" * depth + "]" * depth + "\n"
    elif kind == "self":
        text += "loop: &loop [*loop]\n"
    data = text.encode("utf-8", "surrogatepass")
    if kind == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    elif kind == "binary":
        data = draw(st.binary(max_size=200))
    elif kind == "latin1":
        data = text.encode("utf-8") + "\nname: caf\xe9\n".encode("latin-1")
    return data


# ---- the check -------------------------------------------------------------------------------------------

def _reset_peak() -> None:
    """Restart the kernel's high-water mark of this process (Linux >= 4.0), so the peak read after a run is that
    run's own and not an earlier example's; where it cannot be reset the bound below is only looser."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss() -> int:
    """The process's resident high-water mark: VmHWM (resettable) on Linux, else getrusage's lifetime peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _rss() -> int:
    """Resident memory now (Linux); elsewhere the peak, which only makes the bound below looser."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()
    except OSError:
        return _peak_rss()


def check_run(argv: list[str], out_dir: Path) -> tuple[int, str, str]:
    """Run main() in-process and assert the contract; return (code, stdout, stderr)."""
    _reset_peak()
    before = _rss()
    stdout, stderr = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    elapsed = time.perf_counter() - start
    out, err = stdout.getvalue(), stderr.getvalue()
    assert elapsed < SECONDS, (elapsed, argv)
    assert _peak_rss() - before < MEMORY, argv  # the process peak bounds the run's peak from above
    if code == 0:
        assert err == "", err
        assert isinstance(json.loads(out), dict) if "--json" in argv else "stall = " in out
    else:
        assert code == 2, (code, err)
        assert err.startswith("hwsim: error: ") and err.count("\n") == 1 and len(err) < 1000, err
        assert out == "" and list(out_dir.iterdir()) == [], list(out_dir.iterdir())
    return code, out, err


def _case(model: bytes, arch: bytes, batch: int, table: bool, root: Path) -> tuple[list[str], Path]:
    case = Path(tempfile.mkdtemp(dir=root))
    (case / "model.yaml").write_bytes(model)
    (case / "arch.yaml").write_bytes(arch)
    out = case / "out"
    out.mkdir()
    argv = ["simulate", "--model", str(case / "model.yaml"), "--arch", str(case / "arch.yaml"), "--batch", str(batch),
            "--csv", str(out / "ops.csv")]
    return argv + ([] if table else ["--json"]), out


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _arch_bytes(doc) -> bytes:
    return _dump(doc).encode()


VALID_MODEL = st.builds(lambda d: _dump(d).encode(), model_doc)
VALID_ARCH = st.builds(_arch_bytes, arch_doc())
ARCH_DOCUMENT = document(arch_doc(), BAD_VALUES if ARCH_BOUNDED else SMALL_BAD_VALUES, yaml_attacks=ARCH_YAML_SAFE,
                         nesting=200 if ARCH_YAML_SAFE else 20)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_generated_documents_keep_the_contract(root, data):
    """Mostly one document mutated at a time (so the other is valid and the run gets far), sometimes both."""
    which = data.draw(st.sampled_from(["model", "model", "arch", "both", "neither"]))
    model = data.draw(document(model_doc) if which in ("model", "both") else VALID_MODEL)
    arch = data.draw(ARCH_DOCUMENT if which in ("arch", "both") else VALID_ARCH)
    argv, out = _case(model, arch, data.draw(st.integers(1, 4)), data.draw(st.booleans()), root)
    code, _, stderr = check_run(argv, out)
    event(f"{which} mutated: exit {code}")
    if which == "neither" and code == 2:  # generated layers may not fit their input; nothing else may fail
        assert any(s in stderr for s in ("exceeds", "expected a (C, H, W) input", "expected a (T, D) token input",
                                         "expected an axis")), stderr
    if code == 0:
        assert (out / "ops.csv").read_text().startswith("name,layer,phase")


SUBPROCESS_CASES = [
    ("valid", b"input: [3, 8, 8]\nlayers:\n  - {op: conv2d, out_channels: 4, kernel: 3}\n  - {op: relu}\n", None, 0),
    ("bomb", b"input: [3, 8, 8]\nlayers: [{op: relu}]\n" + bomb(9).encode(), None, 2),
    ("huge", b"input: [3, 8, 8]\nlayers: [{op: conv2d, out_channels: 99999999999999999999, kernel: 3}]\n", None, 2),
    ("binary", bytes(range(256)), None, 2),
    ("arch-types", None, _dump({**ARCH, "array": {**ARCH["array"], "rows": "4"}}).encode(), None),
    pytest.param("arch-deep", None, ("version: 1\nname: " + "[" * 3000 + "]" * 3000 + "\n").encode(), 2,
                 id="arch-deep", marks=pytest.mark.skipif(not ARCH_YAML_SAFE,
                                                          reason="hwsim/config does not read through yamlsafe yet")),
]


@pytest.mark.parametrize("label, model, arch, expect", SUBPROCESS_CASES,
                         ids=[c[0] if isinstance(c, tuple) else c.id for c in SUBPROCESS_CASES])
def test_documents_through_a_real_process(tmp_path, label, model, arch, expect):
    """The same contract seen from outside: exit code, one stderr line, no traceback, nothing written."""
    default_model = b"input: [3, 8, 8]\nlayers: [{op: relu}]\n"
    argv, out = _case(model or default_model, arch or _arch_bytes(ARCH), 2, False, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "hwsim.cli", *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode in ((0, 2) if expect is None else (expect,)), proc.stderr
    assert "Traceback" not in proc.stderr
    if proc.returncode == 2:
        assert proc.stderr.startswith("hwsim: error: ") and proc.stderr.count("\n") == 1
        assert list(out.iterdir()) == []
    else:
        assert json.loads(proc.stdout)["cycles"] > 0
