"""ONNX networks written node by node with onnx.helper, mirroring zoo models layer for layer."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Net:
    """Append nodes; weights become initializers. Tensor names are the node names (as the zoo's layer names)."""

    def __init__(self, name, in_shape, batch=1):
        self.name, self.nodes, self.inits = name, [], []
        self.input = helper.make_tensor_value_info("data", TensorProto.FLOAT, [batch, *in_shape])
        self.last = "data"

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32 if np.asarray(
            array).dtype.kind == "f" else np.int64), name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op, list(inputs), [name], name=name, **attrs))
        self.last = name
        return name

    def conv(self, x, cin, cout, k, name, stride=1, pad=None, groups=1, bias=False):
        pad = (k - 1) // 2 if pad is None else pad
        w = self.const(f"{name}.weight", np.zeros((cout, cin // groups, k, k), np.float32))
        ins = [x, w] + ([self.const(f"{name}.bias", np.zeros(cout, np.float32))] if bias else [])
        return self.node("Conv", ins, name, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4,
                         group=groups)

    def bn(self, x, c, name):
        params = [self.const(f"{name}.{p}", np.ones(c, np.float32)) for p in ("scale", "b", "mean", "var")]
        return self.node("BatchNormalization", [x, *params], name)

    def conv_bn_act(self, x, cin, cout, k, name, stride=1, groups=1, act="relu"):
        y = self.bn(self.conv(x, cin, cout, k, name, stride, groups=groups), cout, f"{name}.bn")
        if act == "relu":
            return self.node("Relu", [y], f"{name}.relu")
        if act == "relu6":
            lo, hi = self.const(f"{name}.lo", np.float32(0)), self.const(f"{name}.hi", np.float32(6))
            return self.node("Clip", [y, lo, hi], f"{name}.relu6")
        return y

    def gemm(self, x, k, n, name, bias=True):
        w = self.const(f"{name}.weight", np.zeros((n, k), np.float32))
        ins = [x, w] + ([self.const(f"{name}.bias", np.zeros(n, np.float32))] if bias else [])
        return self.node("Gemm", ins, name, transB=1)

    def model(self, opset=17):
        out = helper.make_tensor_value_info(self.last, TensorProto.FLOAT, None)
        graph = helper.make_graph(self.nodes, self.name, [self.input], [out], initializer=self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])

    def save(self, path, opset=17):
        onnx.save(self.model(opset), str(path))
        return path


def resnet9(classes=10, res=32):
    """The zoo's resnet9 (Myrtle DAWNBench), as an exporter would write it."""
    n = Net("resnet9", (3, res, res))
    x = n.conv_bn_act("data", 3, 64, 3, "prep")
    cin = 64
    for stage, width, residual in (("layer1", 128, True), ("layer2", 256, False), ("layer3", 512, True)):
        y = n.conv_bn_act(x, cin, width, 3, f"{stage}.conv")
        x = n.node("MaxPool", [y], f"{stage}.pool", kernel_shape=[2, 2], strides=[2, 2])
        if residual:
            r = n.conv_bn_act(x, width, width, 3, f"{stage}.res1")
            r = n.conv_bn_act(r, width, width, 3, f"{stage}.res2")
            x = n.node("Add", [x, r], f"{stage}.add")
        cin = width
    x = n.node("GlobalMaxPool", [x], "maxpool")
    x = n.node("Flatten", [x], "flatten", axis=1)
    n.gemm(x, 512, classes, "fc", bias=False)
    return n
