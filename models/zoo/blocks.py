"""Building blocks shared by the zoo's CNNs."""

from hwsim.models.builder import GraphBuilder


def conv_bn_act(b: GraphBuilder, x: str, out_channels: int, kernel: int, *, name: str, stride: int = 1,
                groups: int = 1, bias: bool = False, act: str | None = "relu") -> str:
    """Conv2d (``name``), BatchNorm (``name.bn``), then activation ``act`` (``name.<act>``) unless None."""
    y = b.bn(b.conv(x, out_channels, kernel, stride, groups=groups, bias=bias, name=name), name=f"{name}.bn")
    return b.act(y, act, name=f"{name}.{act}") if act else y


def classifier(b: GraphBuilder, x: str, classes: int, *, pool: str = "avg", bias: bool = True,
               name: str = "fc", dropout: float | None = None) -> str:
    """Global pooling, flatten, dropout with probability ``dropout`` (if given), then a Linear to ``classes``."""
    x = b.flatten(b.global_pool(x, pool, name=f"{pool}pool"), name="flatten")
    if dropout:
        x = b.dropout(x, dropout, name="dropout")
    return b.linear(x, classes, bias=bias, name=name)
