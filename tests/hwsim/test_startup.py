"""The CLI's start-up: numba's BLAS probe answered without importing scipy.linalg, scipy.linalg still importable."""
import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_registries_load_without_scipy_linalg_which_stays_importable():
    out = _run("import sys\n"
               "from hwsim.engine.startup import import_registries_without_scipy\n"
               "import_registries_without_scipy()\n"
               "import numpy as np\n"
               "from hwsim.engine import run_pipeline\n"
               "z = np.zeros(1, dtype=np.int64)\n"
               "run_pipeline(np.array([0, 1]), z, z, z, z, 1.0, 0)\n"
               "print('scipy.linalg' in sys.modules, 'numba.np.arraymath' in sys.modules)\n"
               "import scipy.linalg\n"
               "print(scipy.linalg.cython_blas.__name__)\n")
    assert out.split() == ["False", "True", "scipy.linalg.cython_blas"]


def test_simulate_json_does_not_import_scipy_linalg():
    out = _run("import sys, runpy\n"
               "sys.argv = ['hwsim', 'simulate', '--model', 'resnet9', '--resolution', '32', '--batch', '2', '--json']\n"
               "from hwsim.cli import main\n"
               "import io, contextlib\n"
               "with contextlib.redirect_stdout(io.StringIO()):\n"
               "    assert main(sys.argv[1:]) == 0\n"
               "print(sorted(m for m in ('scipy.linalg', 'pandas', 'matplotlib') if m in sys.modules))\n")
    assert out.strip() == "[]"
