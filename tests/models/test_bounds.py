"""Bounded, strictly typed integers in workloads, tensor-size caps, and linear-time auto-naming."""
import os
import time

import pytest

from hwsim import models
from hwsim.models import checks, yaml_graph
from hwsim.models.ops import Conv2d, Linear, Slice

HEAD = "input: [3, 8, 8]\nlayers:\n"
HUGE = 10 ** 20  # the 20-digit counts that used to end in an OverflowError traceback


@pytest.mark.parametrize("layer, message", [
    (f"{{op: conv2d, out_channels: {HUGE}, kernel: 3}}", f"out_channels: {HUGE} (expected an integer from 1 to "
                                                          "1,048,576)"),
    (f"{{op: conv2d, out_channels: 8, kernel: {HUGE}}}", f"kernel: {HUGE} (expected an integer from 1 to"),
    (f"{{op: conv2d, out_channels: 8, kernel: 3, padding: [{HUGE}, 1]}}", "padding: ("),
    (f"{{op: linear, out_features: {HUGE}}}", "out_features: 100000000000000000000"),
    ("{op: conv2d, out_channels: true, kernel: 3}", "out_channels: True (expected an integer"),
    ("{op: conv2d, out_channels: '32', kernel: 3}", "out_channels: '32' (expected an integer"),
    ("{op: conv2d, out_channels: 32.0, kernel: 3}", "out_channels: 32.0 (expected an integer"),
    ("{op: conv2d, out_channels: 8, kernel: [3, true]}", "kernel: (3, True) (expected an integer"),
    (f"{{op: slice, axis: {HUGE}, start: 0, stop: 1}}", "axis: 100000000000000000000 (expected an integer from -8"),
    (f"{{op: reshape, shape: [{HUGE}]}}", "shape: (100000000000000000000,) (expected a list of 1 to 8 integers"),
])
def test_model_yaml_integers_are_bounded_and_strict(layer, message):
    with pytest.raises(models.ModelError) as info:
        yaml_graph.parse(HEAD + f"  - {layer}\n", source="net.yaml")
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("shape", [[HUGE], [3, 1 << 21, 8], [1] * 9, [True, 8, 8]])
def test_input_shape_is_bounded(shape):
    with pytest.raises(models.ModelError, match=r"^model file net.yaml: input: .*expected a list of 1 to 8 integers"):
        yaml_graph.parse(f"input: {shape}\nlayers: [{{op: relu}}]\n".replace("True", "true"), source="net.yaml")


def test_tensor_elements_per_sample_are_capped():
    with pytest.raises(models.ModelError, match=r"^model file n: input: \[65536, 65536, 2\] holds 8,589,934,592 "
                                                r"elements per sample \(expected at most 4,294,967,296\)"):
        yaml_graph.parse("input: [65536, 65536, 2]\nlayers: [{op: relu}]\n", source="n")
    doc = HEAD + "  - {op: conv2d, out_channels: 1048576, kernel: 1, padding: 100000}\n"
    with pytest.raises(models.ModelError, match=r"layer 'conv1'\.output: .* elements per sample"):
        yaml_graph.parse(doc)


def test_zoo_resolution_and_classes_are_bounded():
    for field in ("resolution", "classes"):
        with pytest.raises(models.ModelError, match=rf"^{field}: {HUGE} \(expected an integer from 1 to 1,048,576\)"):
            models.load("resnet18", **{field: HUGE})
    with pytest.raises(models.ModelError, match=r"^resolution: 1048576 does not fit model 'resnet50'.*elements per "
                                                r"sample"):
        models.load("resnet50", resolution=1 << 20)


def test_python_ops_take_the_same_bounds():
    for make in (lambda: Conv2d(3, HUGE, 3), lambda: Linear(HUGE, 4), lambda: Slice(0, 0, HUGE)):
        with pytest.raises(models.ModelError, match="1,048,576"):
            make()
    assert checks.integer("x", 1 << 20) == 1 << 20


def test_layer_count_is_capped():
    with pytest.raises(models.ModelError, match=r"^model file <string>: layers: 25,001 entries \(expected at most "
                                                r"25,000\)"):
        yaml_graph.parse(HEAD + "  - {op: relu}\n" * 25_001)


def test_unnamed_layers_are_named_in_linear_time():
    doc = HEAD + "  - {op: relu}\n" * 20_000  # quadratic naming took about 40 s; linear about 1 s
    start = time.perf_counter()
    graph = yaml_graph.parse(doc)
    assert time.perf_counter() - start < 20  # linear: ~2 s; room for a loaded 2-core machine
    assert [layer.name for layer in graph.layers[:2]] == ["relu1", "relu2"] and graph.layers[-1].name == "relu20000"


def test_auto_names_skip_names_taken_explicitly():
    graph = yaml_graph.parse(HEAD + "  - {op: relu, name: relu2}\n  - {op: relu}\n  - {op: relu}\n")
    assert [layer.name for layer in graph.layers] == ["relu2", "relu1", "relu3"]


@pytest.mark.parametrize("name", ["a\rb", "\x1b[31mred", "x" * 201, "tab\there"])
def test_names_are_printable_and_short(name):
    with pytest.raises(models.ModelError, match=r"name: .* \(expected a non-empty printable one-line string of at "
                                                r"most 200 characters\)"):
        yaml_graph.parse(HEAD + "  - {op: relu, name: " + repr(name).replace("'", '"') + "}\n")


def test_an_odd_file_name_is_no_error(tmp_path):
    path = tmp_path / (os.fsdecode(b"caf\xe9") + ".yaml")
    path.write_text("input: [3, 8, 8]\nlayers: [{op: relu}]\n")
    assert models.load(path).name == "model"
