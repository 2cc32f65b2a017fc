"""YAML graph files and models.load."""

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import models
from hwsim.models import ModelError
from hwsim.models.ops import OPS, Activation
from hwsim.models.yaml_graph import parse

EXAMPLE = """
name: tiny-cnn
input: [3, 32, 32]
layers:
  - {name: c1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {op: relu}
  - {op: add, inputs: [c1, relu1]}
  - {op: pool, mode: max, kernel: 2}
  - {op: pool, mode: avg, global: true}
  - {op: reshape, shape: [-1]}
  - {op: linear, out_features: 10}
"""
HEAD = "input: [3, 8, 8]\nlayers:\n"


def message(text: str) -> str:
    with pytest.raises(ModelError) as info:
        parse(text, "net.yaml")
    assert "\n" not in str(info.value)
    return str(info.value)


def test_example_graph():
    g = parse(EXAMPLE)
    assert [layer.name for layer in g.layers] == ["c1", "relu1", "add1", "maxpool1", "avgpool1", "reshape1",
                                                   "linear1"]
    assert g.layer("c1").op.in_channels == 3  # inferred
    assert g.layer("maxpool1").out_shape == (16, 16, 16)
    assert g.layer("linear1").op.in_features == 16
    assert g.macs == 32 * 32 * 16 * 27 + 160


def test_load_file_and_dispatch(tmp_path):
    path = tmp_path / "net.yml"
    path.write_text(EXAMPLE.replace("name: tiny-cnn\n", ""))
    assert models.load(path).name == "net"  # name defaults to the file stem
    assert models.load(str(path)) == models.load(path)
    assert models.load("resnet9").name == "resnet9"
    with pytest.raises(ModelError, match=r"^resolution: 64 given with model file .*net.yml"):
        models.load(path, resolution=64)
    with pytest.raises(ModelError, match=r"^model file .*missing.yaml: not found"):
        models.load(tmp_path / "missing.yaml")
    with pytest.raises(ModelError, match=r"^model file .*: is a directory"):
        models.load(tmp_path)  # a directory
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ModelError, match=r"binary.yaml: not UTF-8 text"):
        models.load(tmp_path / "binary.yaml")


@pytest.mark.parametrize("text, expected", [
    (HEAD + "  - {op: foo}\n", "model file net.yaml: layers[0].op: 'foo' (expected one of: conv2d,"),
    (HEAD + "  - {name: c, op: conv2d, out_channels: 4, kernel: 3, groups: 3}\n",
     "model file net.yaml: layer 'c'.groups: 3 does not divide in_channels 3"),
    (HEAD + "  - {op: conv2d, kernel: 3}\n", "layers[0].out_channels: missing"),
    (HEAD + "  - {op: conv2d, out_channels: 4, kernel: [3, x]}\n", "layers[0].kernel: (3, 'x') (expected"),
    (HEAD + "  - {op: conv2d, out_channels: 4, kernel: 3, stide: 2}\n",
     "layers[0].stide: unknown field of op conv2d (expected one of: in_channels, out_channels, kernel, stride"),
    (HEAD + "  - {op: relu, fn: gelu}\n", "layers[0].fn: unknown field of op relu"),
    (HEAD + "  - {op: pool, mode: avg, global: yes, kernel: 2}\n", "layers[0].kernel: 2 given for a global pool"),
    (HEAD + "  - {op: relu}\n  - {op: add, inputs: [input, relu1, nope]}\n",
     "layer 'add1'.inputs: unknown layer 'nope'"),
    (HEAD + "  - {name: a, op: conv2d, out_channels: 4, kernel: 3}\n  - {op: add, inputs: [a, input]}\n",
     "layer 'add1'.inputs: shapes (4, 6, 6) and (3, 8, 8) differ"),
    (HEAD + "  - {op: linear, out_features: 4, inputs: [1]}\n", "layers[0].inputs: [1] (expected a layer name"),
    (HEAD + "  - {op: relu}\n  - {op: relu, inputs: input}\n", "layer 'relu1': output never used"),
    (HEAD + "  - {name: 7, op: relu}\n", "layers[0].name: 7 (expected a non-empty printable one-line string"),
    (HEAD + "  - relu\n", "layers[0]: 'relu' (expected a mapping"),
    ("input: [3, 8, 8]\n", "model file net.yaml: layers: missing"),
    ("input: [3, 0]\nlayers: [{op: relu}]\n", "model file net.yaml: input: [3, 0] (expected"),
    ("input: [3]\nlayers: []\n", "layers: [] (expected a non-empty list"),
    ("input: [3]\nlayers: [{op: relu}]\nextra: 1\n", "model file net.yaml: extra: unknown key at top level"),
    ("- 1\n", "model file net.yaml: top level: [1] (expected a mapping"),
    ("input: [3, 8\nlayers: []\n", "model file net.yaml: invalid YAML at line 2: "),
    ("input: [3]\n layers: {\n", "model file net.yaml: invalid YAML at line 2: "),
    ("input: 2024-13-01\n", "model file net.yaml: invalid YAML: month must be in 1..12"),
])
def test_errors_name_file_layer_and_field(text, expected):
    assert expected in message(text)


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
FIELDS = sorted({"kernel", "stride", "padding", "groups", "bias", "global", "mode", "fn",
                 "norm", "shape", "axis", "start", "stop", "cls_token", "transpose_b", "in_channels",
                 "out_channels", "in_features", "out_features"})
LAYERS = st.lists(st.one_of(
    st.fixed_dictionaries({"op": st.sampled_from([*OPS, *Activation.FUNCTIONS])},
                          optional={f: YAML_VALUES | st.integers(1, 8) for f in FIELDS}),
    YAML_VALUES), max_size=5)
NAMES = st.sampled_from(["input", "a", "b", "relu1", "conv1"])
LAYERS = st.lists(st.one_of(
    st.fixed_dictionaries({"op": st.sampled_from([*OPS, *Activation.FUNCTIONS])},
                          optional={"name": NAMES | YAML_VALUES, "inputs": NAMES | st.lists(NAMES, max_size=3),
                                    **{f: st.integers(-1, 8) | YAML_VALUES for f in FIELDS}}),
    YAML_VALUES), min_size=1, max_size=5)
SHAPES = st.sampled_from([[3, 8, 8], [16, 4], [8], [4, 4, 16]])
DOCS = st.one_of(YAML_VALUES, st.fixed_dictionaries({"input": SHAPES | YAML_VALUES, "layers": LAYERS}))


def only_model_errors(text: str) -> None:
    try:
        parse(text, "fuzz.yaml")
    except ModelError as error:
        assert "\n" not in str(error) and str(error).startswith("model file fuzz.yaml: ")


@settings(max_examples=300, deadline=None)
@given(DOCS)
def test_loader_raises_only_model_error_on_structured_garbage(doc):
    only_model_errors(yaml.safe_dump(doc))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["input:", "layers:", "- ", "{op: conv2d, ", "kernel: ", "[", "]", "{", "}", ",",
                                 "\n", "  ", "3", "-1", "x", "&a ", "*a ", "? ", "2024-13-01", "!!timestamp ",
                                 "!!binary ", "!!float ", "!!set ", "!!omap ", "!!python/tuple ", "!x "]),
                max_size=25).map("".join) | st.text(max_size=40))
def test_loader_raises_only_model_error_on_garbage_text(text):
    only_model_errors(text)


@pytest.mark.parametrize("name", ["vit", "resnet9"])
def test_zoo_graph_round_trips_through_a_file(tmp_path, name):
    """A file spelling out a zoo graph's ops gives the same graph (between them, every op kind's fields)."""
    g = models.zoo.build(name)
    layers = []
    for layer in g.layers:
        spec = {"name": layer.name, "op": layer.op.kind, "inputs": list(layer.inputs)}
        for field, value in vars(layer.op).items():
            spec["global" if field == "global_" else field] = list(value) if isinstance(value, tuple) else value
        layers.append(spec)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"input": list(g.input_shape), "layers": layers}))
    assert models.load(path) == g


def test_docstring_example_parses():
    import hwsim.models.yaml_graph as module
    doc = module.__doc__
    example = doc[doc.index("    name: tiny-cnn"):doc.index("Each layer")]
    g = parse("\n".join(line[4:].split("#")[0] for line in example.splitlines()))
    assert g.layers[-1].out_shape == (10,)
