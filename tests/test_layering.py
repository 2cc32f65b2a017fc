"""The house rules on imports: one-way layering models -> dataflow -> hwsim -> rtl, and no top-level import names
other than ``hwsim`` (``models``/``dataflow``/``rtl`` would collide with users' own packages)."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> the hwsim.* packages its code may import ("hwsim" alone means the hwsim/ folder's own modules)
ALLOWED = {
    "models": {"hwsim.models"},
    "dataflow": {"hwsim.dataflow", "hwsim.models"},
    "hwsim": {"hwsim", "hwsim.models", "hwsim.dataflow"},
    "rtl": {"hwsim", "hwsim.models", "hwsim.dataflow", "hwsim.rtl"},
}
# The CLI is the user's entry point: it may reach every room (inside its command functions).
ENTRY_POINTS = {ROOT / "hwsim" / "cli.py"}


def _room(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "hwsim":
        return ""
    return "hwsim." + parts[1] if len(parts) > 1 and parts[1] in {"models", "dataflow", "rtl"} else "hwsim"


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""
            if node.module == "hwsim":  # from hwsim import models
                yield from (f"hwsim.{a.name}" for a in node.names)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_room_imports_only_below_it(folder):
    for path in (ROOT / folder).rglob("*.py"):
        if path in ENTRY_POINTS:
            continue
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in {"models", "dataflow", "rtl", "reports"}, f"{path.relative_to(ROOT)} imports {name}"
            room = _room(name)
            assert not room or room in ALLOWED[folder], f"{path.relative_to(ROOT)} imports {name}"


def test_import_hwsim_is_light():
    code = ("import sys, hwsim, hwsim.models; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'hwsim', 'numba', 'pandas', 'matplotlib'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for heavy in ("numba", "pandas", "matplotlib", "hwsim.dataflow", "hwsim.simulation"):
        assert f"'{heavy}" not in loaded, loaded


def test_every_package_folder_is_installed():
    import tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    mapping = {"hwsim": "hwsim", "models": "hwsim.models", "dataflow": "hwsim.dataflow", "rtl": "hwsim.rtl"}
    found = set()
    for folder, name in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found == listed


def test_script_in_a_project_with_its_own_models_package(tmp_path):
    """A user's folder with models/, dataflow/ and rtl/ packages of its own: hwsim still imports and simulates."""
    for name in ("models", "dataflow", "rtl"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("MINE = True\n")
    (tmp_path / "script.py").write_text(
        "import models, dataflow, rtl\nimport hwsim\n"
        "r = hwsim.simulate('resnet9', 'sat-small', method='bdwp', nm='2:8', batch=2)\n"
        "assert models.MINE and dataflow.MINE and rtl.MINE\nprint(r.cycles > 0)\n")
    out = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
