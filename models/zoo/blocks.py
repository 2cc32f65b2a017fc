"""Building blocks shared by the zoo's CNNs."""

from hwsim.models.builder import GraphBuilder


def conv_bn_act(b: GraphBuilder, x: str, out_channels: int, kernel: int, *, name: str, stride: int = 1,
                groups: int = 1, bias: bool = False, act: str | None = "relu") -> str:
    """Conv2d (``name``), BatchNorm (``name.bn``), then activation ``act`` (``name.<act>``) unless None."""
    y = b.bn(b.conv(x, out_channels, kernel, stride, groups=groups, bias=bias, name=name), name=f"{name}.bn")
    return b.act(y, act, name=f"{name}.{act}") if act else y


def classifier(b: GraphBuilder, x: str, classes: int, *, pool: str = "avg", bias: bool = True,
               name: str = "fc") -> str:
    """Global pooling, flatten, then a Linear to ``classes``."""
    pooled = b.global_pool(x, pool, name=f"{pool}pool")
    return b.linear(b.flatten(pooled, name="flatten"), classes, bias=bias, name=name)
