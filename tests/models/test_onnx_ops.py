"""The importer on small hand-written graphs: each pattern an exporter emits, the layers it becomes."""
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package (hwsim[onnx]) is not installed")

from hwsim.models import ModelError  # noqa: E402
from hwsim.models.onnx_import import from_model  # noqa: E402
from hwsim.models.onnx.registry import supported  # noqa: E402
from hwsim.models.ops import Activation, Affine, Dropout, Eltwise, Norm, Pool, Reduce  # noqa: E402
from tests.models.onnx_nets import Net  # noqa: E402


def _convert(n, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these graphs should warn
        return from_model(n.model(), **kw)


def _kinds(graph):
    return [(layer.op, layer.out_shape) for layer in graph.layers]


def _scalar(n, name, value):
    return n.const(name, np.array(value, np.float32))


def test_squeeze_excitation_gates_the_channels_by_broadcasting():
    n = Net("se", (8, 4, 4))
    s = n.node("GlobalAveragePool", ["data"], "squeeze")
    s = n.node("Relu", [n.node("Conv", [s, n.const("w1", np.zeros((2, 8, 1, 1), np.float32))], "fc1")], "act")
    s = n.node("Sigmoid", [n.node("Conv", [s, n.const("w2", np.zeros((8, 2, 1, 1), np.float32))], "fc2")], "gate")
    n.node("Mul", ["data", s], "scale")
    g = _convert(n)
    assert g.layers[-1].op == Eltwise("mul") and g.layers[-1].in_shapes == ((8, 4, 4), (8, 1, 1))
    assert g.layers[-2].op == Activation("sigmoid")  # x * sigmoid(s) with s != x is a gate, not a SiLU


def test_silu_and_decomposed_hardswish_are_one_activation_each():
    n = Net("act", (16,))
    n.node("Mul", ["data", n.node("Sigmoid", ["data"], "sig")], "silu")
    n.node("Mul", [n.node("HardSigmoid", ["silu"], "hs", alpha=1 / 6, beta=0.5), "silu"], "hswish")
    g = _convert(n)
    assert [layer.op for layer in g.layers] == [Activation("silu"), Activation("hswish")]
    assert [layer.name for layer in g.layers] == ["silu", "hswish"]


@pytest.mark.parametrize("half_first", [True, False])
def test_gelu_spelled_with_erf_is_one_activation(half_first):
    n = Net("gelu", (16,))
    d = n.node("Div", ["data", _scalar(n, "sqrt2", np.sqrt(2))], "div")
    plus = n.node("Add", [n.node("Erf", [d], "erf"), _scalar(n, "one", 1.0)], "plus")
    if half_first:
        n.node("Mul", [n.node("Mul", ["data", _scalar(n, "half", 0.5)], "half_x"), plus], "gelu")
    else:
        n.node("Mul", [n.node("Mul", ["data", plus], "x_plus"), _scalar(n, "half", 0.5)], "gelu")
    g = _convert(n)
    assert [layer.op for layer in g.layers] == [Activation("gelu")]
    assert g.notes == ("folded: gelu spelled out over several nodes, as one activation",)


def test_a_wrong_constant_is_no_gelu():
    n = Net("notgelu", (16,))
    d = n.node("Div", ["data", _scalar(n, "three", 3.0)], "div")
    plus = n.node("Add", [n.node("Erf", [d], "erf"), _scalar(n, "one", 1.0)], "plus")
    n.node("Mul", [n.node("Mul", ["data", _scalar(n, "half", 0.5)], "half_x"), plus], "out")
    fns = [layer.op for layer in _convert(n).layers]
    assert Activation("gelu") not in fns and Activation("erf") in fns


def test_a_layer_norm_spelled_out_is_one_norm_with_its_affine():
    n = Net("ln", (5, 16))
    mean = n.node("ReduceMean", ["data", n.const("axes", np.array([-1]))], "mean", keepdims=1)
    d = n.node("Sub", ["data", mean], "d")
    var = n.node("ReduceMean", [n.node("Pow", [d, _scalar(n, "two", 2.0)], "sq"), "axes"], "var", keepdims=1)
    s = n.node("Sqrt", [n.node("Add", [var, _scalar(n, "eps", 1e-5)], "veps")], "std")
    y = n.node("Div", [d, s], "norm")
    y = n.node("Mul", [y, n.const("gamma", np.ones(16, np.float32))], "scale")
    n.node("Add", [y, n.const("beta", np.zeros(16, np.float32))], "shift")
    g = _convert(n, default_name="ln")
    assert [(layer.op, layer.params) for layer in g.layers] == [(Norm("layer"), 32)]


def test_ceil_mode_and_asymmetric_padding_are_modelled_exactly():
    n = Net("pools", (4, 112, 112))
    n.node("MaxPool", ["data"], "ceil", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)  # 112 -> 56 (floor: 55)
    n.node("Conv", ["ceil", n.const("w", np.zeros((4, 4, 3, 3), np.float32))], "asym", kernel_shape=[3, 3],
           strides=[2, 2], pads=[0, 0, 1, 1])  # (56 + 1 - 3) // 2 + 1 = 28
    n.node("AveragePool", ["asym"], "same", kernel_shape=[2, 2], strides=[1, 1], auto_pad="SAME_UPPER")
    g = _convert(n)
    assert [layer.out_shape for layer in g.layers] == [(4, 56, 56), (4, 28, 28), (4, 28, 28)]
    assert g.layers[0].op == Pool("max", 3, 2, ceil_mode=True)
    assert g.layers[1].op.padding == (0, 0) and g.layers[1].op.pad_end == (1, 1)
    assert g.layers[2].op.pad_end == (1, 1)


def test_dropout_is_a_layer_only_in_training_mode():
    for training, expected in ((True, [Dropout(0.1)]), (False, [])):
        n = Net("drop", (16,))
        n.node("Dropout", ["data", _scalar(n, "ratio", 0.1), n.const("mode", np.array(training))], "drop")
        n.gemm("drop", 16, 4, "fc")
        g = _convert(n)
        assert [layer.op for layer in g.layers[:-1]] == expected
        assert training or g.notes == ("ignored: Dropout at inference (eval mode)",)


def test_a_sequence_first_transformer_moves_the_batch_axis():
    """(T, N, D) at batch 1: per sample (T, D); a Transpose to batch-first and back keeps it (T, D)."""
    n = Net("seqfirst", (1, 8), batch=6)  # data is (6, 1, 8): T = 6 first, then the batch
    x = n.node("Transpose", ["data"], "bf", perm=[1, 0, 2])
    x = n.node("MatMul", [x, n.const("w", np.zeros((8, 8), np.float32))], "proj")
    x = n.node("Transpose", [x], "sf", perm=[1, 0, 2])
    n.node("Add", [x, "data"], "res")
    g = _convert(n)
    assert g.input_shape == (6, 8)
    assert [layer.out_shape for layer in g.layers] == [(6, 8), (6, 8)]  # transposes cost no layer here
    assert g.layers[0].macs == 6 * 8 * 8


def test_learned_tensors_are_parameters_and_masks_are_not():
    n = Net("consts", (4, 6))
    x = n.node("Mul", ["data", n.const("layer_scale", np.ones(6, np.float32))], "ls")  # learned: 6 params
    mask = np.triu(np.full((4, 6), -np.inf, np.float32), 1)
    x = n.node("Add", [x, n.const("causal", mask)], "masked")  # a fixed mask: no params
    x = n.node("Mul", [x, _scalar(n, "k", 0.125)], "scaled")  # a fixed scalar, not next to a GEMM
    g = _convert(n)
    assert [(layer.op, layer.params) for layer in g.layers] == [
        (Affine("scale", (6,)), 6), (Activation("mask"), 0), (Activation("scale"), 0)]


def test_the_attention_scale_folds_into_the_product_next_to_it():
    n = Net("attn", (4, 8))
    q = n.node("Mul", ["data", _scalar(n, "s", 0.35)], "q")
    kt = n.node("Transpose", ["data"], "kt", perm=[0, 2, 1])
    n.node("Softmax", [n.node("MatMul", [q, kt], "scores")], "probs", axis=-1)
    g = _convert(n)
    assert [layer.op.kind for layer in g.layers] == ["reshape", "matmul", "act"]
    assert g.layers[1].macs == 4 * 8 * 4
    assert any(note.startswith("folded: a fixed scalar Mul/Div") for note in g.notes)


def test_reductions_over_the_image_are_pools_and_over_features_reduce():
    n = Net("reduce", (8, 4, 4))
    x = n.node("ReduceMean", ["data", n.const("hw", np.array([2, 3]))], "gap", keepdims=0)  # (8,)
    n.node("ReduceSum", [x, n.const("c", np.array([1]))], "total", keepdims=1)  # (1,)
    g = _convert(n)
    assert [(layer.op, layer.out_shape) for layer in g.layers] == [
        (Pool("avg", global_=True), (8, 1, 1)), (g.layers[1].op, (8,)), (Reduce("sum", (0,), True), (1,))]


def test_a_concatenated_constant_that_is_no_class_token_is_refused_on_one_line():
    n = Net("cat", (4, 8))
    n.node("Concat", [n.const("extra", np.zeros((1, 1, 8), np.float32)), "data"], "cat", axis=1)
    with pytest.raises(ModelError, match=r"^node 'cat' \(Concat\): concatenates a constant that is not a class"):
        _convert(n)


def test_unfold_bn_refuses_a_graph_that_has_normalization():
    n = Net("bn", (3, 8, 8))
    n.conv_bn_act("data", 3, 4, 3, "c")
    with pytest.raises(ModelError, match=r"^unfold_bn: the graph already has normalization layers"):
        _convert(n, unfold_bn=True)


def test_every_supported_op_has_a_handler_and_the_docs_list_them():
    from pathlib import Path

    from hwsim.models.onnx.registry import op_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "model-format.md").read_text()
    assert op_table() in doc, "docs/model-format.md's op list is stale: run `make docs`"
    for op in ("ReduceMean", "Mul", "HardSigmoid", "Where", "Split", "Gather"):
        assert op in supported()
