"""EfficientNet-B0 (torchvision layout): MBConv blocks with squeeze-excitation, SiLU and stochastic depth."""

from hwsim.models.builder import GraphBuilder
from hwsim.models.graph import Graph
from hwsim.models.ops import Eltwise
from hwsim.models.zoo.blocks import classifier, conv_bn_act

# (expansion, kernel, first stride, output channels, repeats): torchvision's MBConvConfig list for B0
_B0 = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
       (6, 3, 1, 320, 1))


def _squeeze_excitation(b: GraphBuilder, x: str, squeeze: int, name: str) -> str:
    """Global average pool, 1x1 conv (bias) to ``squeeze`` channels, SiLU, 1x1 conv (bias) back, sigmoid, and
    the gate ``sigmoid * x`` (an element-wise product broadcast over H and W)."""
    channels = b.shape(x)[0]
    s = b.global_pool(x, name=f"{name}.avgpool")
    s = b.act(b.conv(s, squeeze, 1, bias=True, name=f"{name}.fc1"), "silu", name=f"{name}.silu")
    s = b.act(b.conv(s, channels, 1, bias=True, name=f"{name}.fc2"), "sigmoid", name=f"{name}.sigmoid")
    return b.add(Eltwise("mul"), s, x, name=f"{name}.scale")


def _mbconv(b: GraphBuilder, x: str, expansion: int, kernel: int, stride: int, out: int, drop: float,
            name: str) -> str:
    """1x1 expand (unless t = 1), kxk depthwise, squeeze-excitation (to in/4 channels), linear 1x1 project;
    with a residual, stochastic depth (a per-sample random scale in training, when its rate is above 0) and Add."""
    cin = b.shape(x)[0]
    hidden = cin * expansion
    y = conv_bn_act(b, x, hidden, 1, act="silu", name=f"{name}.expand") if expansion != 1 else x
    y = conv_bn_act(b, y, hidden, kernel, stride=stride, groups=hidden, act="silu", name=f"{name}.dw")
    y = _squeeze_excitation(b, y, max(1, cin // 4), f"{name}.se")
    y = conv_bn_act(b, y, out, 1, act=None, name=f"{name}.project")
    if stride != 1 or cin != out:
        return y
    if drop > 0:
        y = b.act(y, "scale", name=f"{name}.stochastic_depth")
    return b.sum(y, x, name=f"{name}.add")


def efficientnet_b0(resolution: int, classes: int) -> Graph:
    """EfficientNet-B0: 3x3/2 stem (32, SiLU), 16 MBConv blocks, 1x1 conv to 1280, global average pool,
    Dropout(0.2), Linear. BatchNorm and SiLU throughout; stochastic depth rate 0.2 x block index / 16."""
    b = GraphBuilder("efficientnet-b0", (3, resolution, resolution))
    x = conv_bn_act(b, "input", 32, 3, stride=2, act="silu", name="stem")
    total = sum(cfg[-1] for cfg in _B0)
    index = 0
    for stage, (expansion, kernel, stride, out, repeats) in enumerate(_B0):
        for i in range(repeats):
            x = _mbconv(b, x, expansion, kernel, stride if i == 0 else 1, out, 0.2 * index / total,
                        f"stage{stage + 1}.{i}")
            index += 1
    x = conv_bn_act(b, x, 1280, 1, act="silu", name="head")
    classifier(b, x, classes, dropout=0.2)
    return b.build()
