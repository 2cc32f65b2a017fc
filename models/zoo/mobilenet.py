"""MobileNetV2 (torchvision layout) with a width multiplier."""

from hwsim.models.builder import GraphBuilder
from hwsim.models.graph import Graph
from hwsim.models.zoo.blocks import classifier, conv_bn_act

# (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
             (6, 320, 1, 1))


def _divisible(value: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: round to a multiple of 8, never more than 10% down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _inverted_residual(b: GraphBuilder, x: str, out_channels: int, stride: int, expansion: int,
                       name: str) -> str:
    """1x1 expand (skipped when t = 1), 3x3 depthwise, linear 1x1 project; identity Add when shapes allow."""
    channels = b.shape(x)[0]
    hidden = round(channels * expansion)
    y = conv_bn_act(b, x, hidden, 1, act="relu6", name=f"{name}.expand") if expansion != 1 else x
    y = conv_bn_act(b, y, hidden, 3, stride=stride, groups=hidden, act="relu6", name=f"{name}.dw")
    y = conv_bn_act(b, y, out_channels, 1, act=None, name=f"{name}.project")
    return b.sum(x, y, name=f"{name}.add") if stride == 1 and channels == out_channels else y


def mobilenetv2(resolution: int, classes: int, width: float = 1.0) -> Graph:
    """MobileNetV2: 3x3/2 stem, 17 inverted residual blocks, 1x1 conv to 1280 (scaled up only for
    width > 1), global average pool, Dropout(0.2), Linear. BatchNorm and ReLU6 throughout."""
    b = GraphBuilder("mobilenetv2" if width == 1.0 else f"mobilenetv2-w{width:g}", (3, resolution, resolution))
    x = conv_bn_act(b, "input", _divisible(32 * width), 3, stride=2, act="relu6", name="stem")
    index = 0
    for expansion, channels, repeats, stride in _SETTINGS:
        for i in range(repeats):
            x = _inverted_residual(b, x, _divisible(channels * width), stride if i == 0 else 1, expansion,
                                   f"block{index}")
            index += 1
    x = conv_bn_act(b, x, _divisible(1280 * max(1.0, width)), 1, act="relu6", name="head")
    classifier(b, x, classes, dropout=0.2)
    return b.build()
