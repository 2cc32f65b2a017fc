"""The docs say what the code does: the worked model example loads with the stated numbers, every key of
`simulate --json` is documented, every op and field of the model format is listed, and nothing in the
repository points to a file outside it."""
import re
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

import hwsim
from hwsim.models import yaml_graph
from hwsim.models.ops import OPS, Activation

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_model_format_worked_example():
    text = (DOCS / "model-format.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    graph = yaml_graph.parse(block, source="docs/model-format.md")
    assert graph.name == "doc-resnet"
    assert (graph.macs, graph.params) == (6_340_928, 10_074)
    assert "6,340,928 MACs and 10,074 parameters" in text
    names = [layer.name for layer in graph.layers]
    assert names == ["stem", "bn1", "relu1", "c1", "bn2", "relu2", "c2", "bn_c2", "res", "relu3", "down", "avgpool1",
                     "reshape1", "fc"]
    for name in ("bn1", "relu1", "bn2", "relu2", "relu3", "avgpool1", "reshape1"):
        assert f"`{name}`" in text
    layer = {layer.name: layer for layer in graph.layers}
    assert (layer["stem"].macs, layer["stem"].params) == (442_368, 432)
    assert (layer["down"].out_shape, layer["down"].macs) == ((32, 16, 16), 1_179_648)
    assert (layer["fc"].macs, layer["fc"].params) == (320, 330)
    assert hwsim.simulate(graph, "sat-small", "bdwp", "2:8", batch=2).cycles > 0


def test_model_format_lists_every_op_and_field():
    text = (DOCS / "model-format.md").read_text()
    for kind, cls in OPS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{kind}` |"))
        for f in fields(cls):
            key = "global" if f.name == "global_" else f.name
            assert f"`{key}`" in row, (kind, key)
    for fn in Activation.FUNCTIONS:
        assert f"`{fn}`" in text


def test_json_output_documents_every_key():
    text = (DOCS / "json-output.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)`", text, re.M))
    documented |= {k for row in re.findall(r"^\| (`m`, `k`, `n`) \|", text, re.M) for k in "mkn"}
    res = hwsim.simulate("resnet9", "sat-small", "bdwp", "2:8", batch=2).to_dict()
    assert set(res) <= documented, set(res) - documented
    assert set(res["layers"][0]) <= documented, set(res["layers"][0]) - documented
    for key in ("phases", "pregen", "interleave", "dense_ends", "fuse", "input_shape"):
        assert f"`{key}`" in text
    for component in res["energy_breakdown_j"]:
        assert f"`{component}`" in text


def test_readme_points_at_existing_docs():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"`(docs/[\w.-]+)`", readme):
        assert (ROOT / target).is_file(), target
    for name in ("model-format.md", "json-output.md", "modelling.md"):
        assert f"docs/{name}" in readme or name in readme


@pytest.mark.parametrize("pattern", [r"DESIGN\.md", r"/work/", r"\.\./shared", r"shared/reference"])
def test_nothing_points_outside_the_repository(pattern):
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    skip = {".venv", ".git", "build", ".hypothesis", ".pytest_cache"}
    tracked = listing.stdout.split() if listing.returncode == 0 else [
        str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if not skip & set(p.relative_to(ROOT).parts)]
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in (".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg") and path.name != "Makefile":
            continue
        if name == "tests/test_docs.py" or not path.is_file():
            continue
        if re.search(pattern, path.read_text(errors="replace")):
            offenders.append(name)
    assert offenders == []
