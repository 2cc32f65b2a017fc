"""Layers, graphs and the builder: inferred shapes, totals, wiring checks."""


import pytest

from hwsim.models import Graph, GraphBuilder, Layer, ModelError
from hwsim.models.ops import Activation, Add, Conv2d, Linear, Norm


def small_graph() -> Graph:
    b = GraphBuilder("small", (3, 8, 8))
    c = b.conv("input", 4, 3)
    r = b.relu(b.bn(c))
    s = b.sum(c, r)
    b.linear(b.flatten(b.global_pool(s)), 10)
    return b.build()


def test_builder_names_shapes_and_totals():
    g = small_graph()
    assert [layer.name for layer in g.layers] == ["conv1", "bn1", "relu1", "add1", "avgpool1", "reshape1",
                                                   "linear1"]
    assert g.layer("add1").inputs == ("conv1", "relu1")
    assert g.layer("add1").in_shapes == ((4, 8, 8), (4, 8, 8))
    assert g.layer("reshape1").out_shape == (4,)
    assert g.macs == 8 * 8 * 4 * 27 + 4 * 10
    assert g.params == 4 * 27 + 2 * 4 + 4 * 10 + 10
    assert [layer.name for layer in g.weighted_layers] == ["conv1", "linear1"]
    assert g.layer("conv1").out_elems == 256


def test_add_defaults_to_previous_layer():
    b = GraphBuilder("seq", (4,))
    b.add(Linear(4, 8))
    b.add(Activation("relu"), name="act")
    g = b.build()
    assert g.layer("act").inputs == ("linear1",)
    assert g.layers[0].inputs == ("input",)


def test_builder_errors():
    b = GraphBuilder("bad", (3, 8, 8))
    b.conv("input", 4, 3, name="c")
    with pytest.raises(ModelError, match=r"layer 'c'\.name: 'c' is already used"):
        b.conv("input", 4, 3, name="c")
    with pytest.raises(ModelError, match=r"layer 'x'\.inputs: unknown layer 'nope'"):
        b.add(Activation("relu"), "nope", name="x")
    with pytest.raises(ModelError, match=r"layer 'x'\.in_channels: 8 does not match input channels 4"):
        b.add(Conv2d(8, 8, 1), "c", name="x")
    with pytest.raises(ModelError, match=r"layer 'y'\.inputs: shapes \(4, 8, 8\) and \(3, 8, 8\) differ"):
        b.add(Add(), "c", "input", name="y")
    with pytest.raises(ModelError, match=r"graph\.input_shape: \[3, 0\]"):
        GraphBuilder("bad", [3, 0])


def test_graph_checks_wiring():
    conv = Layer("c", Conv2d(3, 4, 1), ("input",), ((3, 8, 8),))
    relu = Layer("r", Activation("relu"), ("c",), ((4, 8, 8),))
    assert Graph("ok", (3, 8, 8), (conv, relu)).layer("r").out_shape == (4, 8, 8)
    with pytest.raises(ModelError, match=r"layer 'c'\.in_shapes: \(3, 8, 8\) does not match the output "
                                         r"\(3, 4, 4\) of 'input'"):
        Graph("g", (3, 4, 4), (conv, relu))
    with pytest.raises(ModelError, match=r"layer 'r'\.inputs: unknown layer 'c'"):
        Graph("g", (3, 8, 8), (relu, conv))
    with pytest.raises(ModelError, match=r"layer 'c'\.name: 'c' is already used"):
        Graph("g", (3, 8, 8), (conv, conv))
    with pytest.raises(ModelError, match=r"layer 'c': output never used"):
        Graph("g", (3, 8, 8), (conv, Layer("n", Norm("batch"), ("input",), ((3, 8, 8),))))
    with pytest.raises(ModelError, match=r"graph\.layers: 'c' \(expected a models.Layer\)"):
        Graph("g", (3, 8, 8), ("c",))
    with pytest.raises(ModelError, match=r"graph\.layers: none"):
        Graph("g", (3, 8, 8), ())
    with pytest.raises(ModelError, match=r"layer: 'zz' not in graph 'ok'"):
        Graph("ok", (3, 8, 8), (conv, relu)).layer("zz")


def test_layer_infers_and_validates():
    with pytest.raises(ModelError, match=r"layer 'input'\.name: 'input' is reserved"):
        Layer("input", Activation("relu"), ("input",), ((3,),))
    with pytest.raises(ModelError, match=r"layer 'c'\.in_channels: 3 does not match input channels 4"):
        Layer("c", Conv2d(3, 4, 1), ("input",), ((4, 8, 8),))
    with pytest.raises(ModelError, match=r"layer 'c'\.in_shapes: 2 shapes for 1 inputs"):
        Layer("c", Add(), ("input",), ((4,), (4,)))
    with pytest.raises(ModelError, match=r"layer 'c'\.op: 'relu'"):
        Layer("c", "relu", ("input",), ((4,),))


def test_graph_is_frozen_and_hashable():
    g = small_graph()
    assert g == small_graph() and hash(g) == hash(small_graph())
    with pytest.raises(AttributeError):
        g.name = "other"

