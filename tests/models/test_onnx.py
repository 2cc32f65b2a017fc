"""ONNX import: files written with onnx.helper come in as the zoo's (or a hand-built) graph, layer for layer."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package (hwsim[onnx]) is not installed")

from hwsim.models import GraphBuilder, ModelError, load, zoo  # noqa: E402
from hwsim.models.onnx_import import from_model  # noqa: E402
from hwsim.models.ops import Concat  # noqa: E402
from tests.models.onnx_nets import Net, resnet9  # noqa: E402


def test_resnet9_is_the_zoo_graph(tmp_path):
    path = resnet9().save(tmp_path / "resnet9.onnx")
    assert load(str(path)) == zoo.build("resnet9", 32, 10)


def test_the_batch_dim_is_dropped():
    n = resnet9()
    n.input.type.tensor_type.shape.dim[0].dim_param = "N"  # a symbolic batch, as exporters write it
    assert from_model(n.model()).input_shape == (3, 32, 32)


def _mobile_block():
    """Depthwise + grouped convs, ReLU6 as Clip, average pool, concat, MatMul + bias Add, LayerNorm, Softmax."""
    n = Net("mobile", (8, 16, 16))
    x = n.conv_bn_act("data", 8, 32, 1, "expand", act="relu6")
    x = n.conv_bn_act(x, 32, 32, 3, "dw", stride=2, groups=32, act="relu6")
    g = n.conv(x, 32, 32, 1, "grouped", groups=4, bias=True)
    p = n.node("AveragePool", [x], "avg", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    x = n.node("Concat", [g, p], "cat", axis=1)
    x = n.node("GlobalAveragePool", [x], "gap")
    x = n.node("Flatten", [x], "flat", axis=1)
    n.const("w", np.zeros((64, 16), np.float32))
    n.const("bias", np.zeros(16, np.float32))
    x = n.node("MatMul", [x, "w"], "proj")
    n.node("Add", [x, "bias"], "proj.bias")
    n.node("LayerNormalization", [n.last, n.const("ln.s", np.ones(16, np.float32))], "ln", axis=-1)
    n.node("Sigmoid", [n.last], "gate")
    n.node("Softmax", [n.last], "probs", axis=-1)
    return n


def _mobile_block_by_hand():
    b = GraphBuilder("mobile", (8, 16, 16))
    x = b.act(b.bn(b.conv("input", 32, 1, name="expand"), name="expand.bn"), "relu6", name="expand.relu6")
    x = b.act(b.bn(b.conv(x, 32, 3, stride=2, groups=32, name="dw"), name="dw.bn"), "relu6", name="dw.relu6")
    g = b.conv(x, 32, 1, groups=4, bias=True, name="grouped")
    p = b.pool(x, "avg", 3, 1, 1, name="avg")
    x = b.add(Concat(0), g, p, name="cat")
    x = b.flatten(b.global_pool(x, name="gap"), name="flat")
    x = b.ln(b.linear(x, 16, bias=True, name="proj"), name="ln")
    b.act(b.act(x, "sigmoid", name="gate"), "softmax", name="probs")
    return b.build()


def test_mobile_block_is_the_hand_built_graph():
    assert from_model(_mobile_block().model()) == _mobile_block_by_hand()


def test_reshape_and_transpose_keep_the_element_count():
    n = Net("heads", (6, 8))
    n.node("Reshape", ["data", n.const("shape", np.array([1, 6, 2, 4]))], "split")
    n.node("Transpose", [n.last], "perm", perm=[0, 2, 1, 3])
    g = from_model(n.model())
    assert [layer.out_shape for layer in g.layers] == [(6, 2, 4), (2, 6, 4)]


def test_an_unsupported_op_names_its_type_and_node():
    n = Net("bad", (4,))
    n.node("Round", ["data"], "squash")
    with pytest.raises(ModelError, match=r"^node 'squash' \(Round\): op type Round is not supported \(expected one"):
        from_model(n.model())


@pytest.mark.parametrize("attrs,message", [
    ({"dilations": [2, 2]}, "dilations"),
    ({"pads": [1, 1, -1, 0]}, "pads"),
])
def test_attributes_the_ir_cannot_express_fail_on_one_line(attrs, message):
    n = Net("bad", (4, 8, 8))
    n.const("w", np.zeros((4, 4, 3, 3), np.float32))
    n.node("Conv", ["data", "w"], "c", kernel_shape=[3, 3], **attrs)
    with pytest.raises(ModelError, match=message) as info:
        from_model(n.model())
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_onnx_fails_on_one_line(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match=r"x\.onnx: not a readable ONNX model"):
        load(str(bad))


def test_a_flatten_written_as_shape_arithmetic_is_evaluated_away():
    """torch's x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    n = Net("view", (4, 3, 3))
    n.node("Shape", ["data"], "shape")
    n.node("Gather", ["shape", n.const("zero", np.array(0))], "batch", axis=0)
    n.node("Unsqueeze", ["batch", n.const("axes", np.array([0]))], "batch1")
    n.node("Concat", ["batch1", n.const("minus1", np.array([-1]))], "target", axis=0)
    n.node("Reshape", ["data", "target"], "flat")
    n.gemm("flat", 36, 5, "fc")
    g = from_model(n.model())
    assert [(layer.name, layer.out_shape) for layer in g.layers] == [("flat", (36,)), ("fc", (5,))]
