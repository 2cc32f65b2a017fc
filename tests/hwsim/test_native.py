"""The kernels compiled ahead of time: the CLI runs without numba and every number equals the JIT's.

`make test` builds the extension first (`python -m hwsim.engine.native`); each process below is a fresh
interpreter, as the CLI is, since a process that made a kernel on the JIT (this one) never switches.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.engine import native
from hwsim.simulation import simulate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def built():
    if native.load() is None:
        pytest.fail(f"no ahead-of-time kernels at {native.folder()}: run `python -m hwsim.engine.native` "
                    "(make test does)")


def _fresh(code: str) -> str:
    env = {k: v for k, v in __import__("os").environ.items() if k != "HWSIM_NATIVE"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout


def test_every_kernel_module_is_hashed_into_the_key():
    found = set()
    for folder, package in ((ROOT / "hwsim", "hwsim"), (ROOT / "dataflow", "hwsim.dataflow")):
        for path in folder.rglob("*.py"):
            if "from hwsim.dataflow.jit import njit" in path.read_text():
                found.add(".".join([package, *path.relative_to(folder).with_suffix("").parts]))
    assert found == set(native.KERNEL_MODULES)


def test_an_edited_kernel_finds_no_extension(monkeypatch, tmp_path):
    before = native.key()
    edited = tmp_path / "offline.py"
    edited.write_text(native._source("hwsim.engine.offline").read_text() + "\n# edited\n")
    real = native._source
    monkeypatch.setattr(native, "_source", lambda m: edited if m == "hwsim.engine.offline" else real(m))
    assert native.key() != before


def test_the_cli_simulates_without_numba_and_prints_what_the_jit_prints(capsys):
    argv = ["simulate", "--model", "resnet50", "--method", "bdwp", "--nm", "2:8", "--json"]
    out = _fresh("import io, sys, contextlib\n"
                 "from hwsim.cli import main\n"
                 "buf = io.StringIO()\n"
                 "with contextlib.redirect_stdout(buf):\n"
                 f"    assert main({argv!r}) == 0\n"
                 "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))\n"
                 "print(buf.getvalue())\n")
    loaded, printed = out.split("\n", 1)
    assert loaded == "[]"
    from hwsim.cli import main

    assert main(argv) == 0  # this process: numba's JIT
    assert json.loads(printed) == json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("work", native.WORKLOADS[2:] + (
    {"model": "mobilenetv2", "method": "transposable", "nm": "1:4", "batch": 4, "dataflow": "ws"},
    {"model": "bert-base-layer", "method": "dense", "batch": 2, "interleave": False},
), ids=lambda w: "-".join(str(v) for v in w.values()))
def test_every_op_of_a_simulation_equals_the_jit(work):
    work_id, work = work, dict(work)
    args = (work.pop("model"), work.pop("arch", "sat-vcu1525"), work.pop("method"), work.pop("nm", None),
            work.pop("batch", 32))
    out = _fresh("import sys\n"
                 "from hwsim.engine import native\n"
                 "assert native.activate()\n"
                 "from hwsim.simulation import simulate\n"
                 f"res = simulate(*{args!r}, **{work!r})\n"
                 "print('numba' in sys.modules)\n"
                 "print(res.ops.to_csv())\n")
    on_jit, table = out.split("\n", 1)
    assert table == simulate(*args, **work).ops.to_csv() + "\n"
    if work_id in native.WORKLOADS:  # compiled for: it ran without the JIT (the others may fall back to it)
        assert on_jit == "False"


def test_a_call_the_extension_was_not_compiled_for_runs_on_the_jit():
    """Non-contiguous arrays: the offline engine (and the helpers it calls) on numba's JIT, same numbers."""
    out = _fresh("import sys\n"
                 "import numpy as np\n"
                 "from hwsim.engine import native\n"
                 "assert native.activate()\n"
                 "from hwsim.engine import run_pipeline\n"
                 "z = np.arange(6, dtype=np.int64) * 40\n"
                 "args = (np.array([0, 2, 3]), z[:3], z[:3], z[:3] * 0, z[3:], 16.0, 5)\n"
                 "a = run_pipeline(*args)\n"
                 "before = 'numba' in sys.modules\n"
                 "strided = (args[0], z[::2], z[::2], z[::2] * 0, z[3:], 16.0, 5)\n"
                 "b = run_pipeline(*strided)\n"
                 "c = run_pipeline(*(np.ascontiguousarray(x) if hasattr(x, 'shape') else x for x in strided))\n"
                 "print(before, 'numba' in sys.modules, all((x == y).all() for x, y in zip(b, c)))\n")
    assert out.split() == ["False", "True", "True"]


def test_a_process_that_imported_a_kernel_on_the_jit_stays_on_it():
    out = _fresh("from hwsim.engine import run_offline\n"
                 "from hwsim.engine import native\n"
                 "print(native.activate(), type(run_offline).__name__)\n")
    assert out.split() == ["False", "CPUDispatcher"]
