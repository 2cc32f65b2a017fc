"""ResNets: the CIFAR ResNet-9 of DAWNBench (Myrtle) and torchvision's ResNet-18/50."""

from collections.abc import Callable

from hwsim.models.builder import GraphBuilder
from hwsim.models.graph import Graph
from hwsim.models.zoo.blocks import classifier, conv_bn_act


def resnet9(resolution: int, classes: int) -> Graph:
    """Myrtle's DAWNBench ResNet-9: prep conv 64; layer1 conv 128 + maxpool + residual (2x conv 128);
    layer2 conv 256 + maxpool; layer3 conv 512 + maxpool + residual (2x conv 512); global max pool;
    Linear without bias. Convs are 3x3 + BatchNorm + ReLU; residuals add without a ReLU after."""
    b = GraphBuilder("resnet9", (3, resolution, resolution))
    x = conv_bn_act(b, "input", 64, 3, name="prep")
    for stage, width, residual in (("layer1", 128, True), ("layer2", 256, False), ("layer3", 512, True)):
        x = b.pool(conv_bn_act(b, x, width, 3, name=f"{stage}.conv"), "max", 2, name=f"{stage}.pool")
        if residual:
            r = conv_bn_act(b, x, width, 3, name=f"{stage}.res1")
            x = b.sum(x, conv_bn_act(b, r, width, 3, name=f"{stage}.res2"), name=f"{stage}.add")
    classifier(b, x, classes, pool="max", bias=False)
    return b.build()


Block = Callable[[GraphBuilder, str, int, int, str], str]


def _shortcut(b: GraphBuilder, x: str, out_channels: int, stride: int, name: str) -> str:
    if stride == 1 and b.shape(x)[0] == out_channels:
        return x
    return conv_bn_act(b, x, out_channels, 1, stride=stride, act=None, name=f"{name}.downsample")


def _basic(b: GraphBuilder, x: str, width: int, stride: int, name: str) -> str:
    y = conv_bn_act(b, x, width, 3, stride=stride, name=f"{name}.conv1")
    y = conv_bn_act(b, y, width, 3, act=None, name=f"{name}.conv2")
    return b.relu(b.sum(y, _shortcut(b, x, width, stride, name), name=f"{name}.add"), name=f"{name}.relu")


def _bottleneck(b: GraphBuilder, x: str, width: int, stride: int, name: str) -> str:
    """torchvision's ResNet v1.5 bottleneck: the stride sits on the 3x3 conv."""
    y = conv_bn_act(b, x, width, 1, name=f"{name}.conv1")
    y = conv_bn_act(b, y, width, 3, stride=stride, name=f"{name}.conv2")
    y = conv_bn_act(b, y, 4 * width, 1, act=None, name=f"{name}.conv3")
    return b.relu(b.sum(y, _shortcut(b, x, 4 * width, stride, name), name=f"{name}.add"), name=f"{name}.relu")


def _resnet(name: str, block: Block, depths: tuple[int, ...], resolution: int, classes: int,
            small_stem: bool = False) -> Graph:
    """torchvision layout. The ImageNet stem (7x7/2 conv, 3x3/2 maxpool) is kept at every resolution,
    including 64x64 Tiny ImageNet and 32x32 CIFAR, so that one network is compared across datasets.
    `small_stem` swaps it for the CIFAR/Tiny-ImageNet adaptation: a 3x3/1 conv and no max-pool."""
    b = GraphBuilder(name, (3, resolution, resolution))
    if small_stem:
        x = conv_bn_act(b, "input", 64, 3, name="conv1")
    else:
        x = b.pool(conv_bn_act(b, "input", 64, 7, stride=2, name="conv1"), "max", 3, 2, 1, name="maxpool")
    for stage, (depth, width) in enumerate(zip(depths, (64, 128, 256, 512)), start=1):
        for i in range(depth):
            x = block(b, x, width, 2 if i == 0 and stage > 1 else 1, f"layer{stage}.{i}")
    classifier(b, x, classes)
    return b.build()


def resnet18(resolution: int, classes: int) -> Graph:
    return _resnet("resnet18", _basic, (2, 2, 2, 2), resolution, classes)


def resnet18_small_stem(resolution: int, classes: int) -> Graph:
    return _resnet("resnet18-s1", _basic, (2, 2, 2, 2), resolution, classes, small_stem=True)


def resnet50(resolution: int, classes: int) -> Graph:
    return _resnet("resnet50", _bottleneck, (3, 4, 6, 3), resolution, classes)
