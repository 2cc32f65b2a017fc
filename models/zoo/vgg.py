"""VGG-19 with BatchNorm: the CIFAR variant for small inputs, torchvision's ImageNet head otherwise."""

from hwsim.models.builder import GraphBuilder
from hwsim.models.graph import Graph
from hwsim.models.zoo.blocks import classifier, conv_bn_act

_STAGES = (2, 2, 4, 4, 4)  # 3x3 convs per stage, each stage followed by a 2x2 maxpool
_WIDTHS = (64, 128, 256, 512, 512)
SMALL_INPUT = 64
"""Inputs up to this size (CIFAR 32, Tiny ImageNet 64) get the CIFAR classifier."""


def vgg19(resolution: int, classes: int) -> Graph:
    """16 convs (3x3, bias, BatchNorm, ReLU) in 5 maxpooled stages, then the classifier.

    - resolution <= 64: global average pool and one Linear 512 -> classes (the usual CIFAR VGG; at 32x32
      the pool is over a 1x1 map, at 64x64 it averages the 2x2 map so the head stays 512 wide).
    - larger: flatten, then Linear 4096, ReLU, Linear 4096, ReLU, Linear classes (torchvision; dropout is
      not modelled). There is no adaptive pool: the first Linear takes 512 * (resolution/32)^2 features,
      which is torchvision's 25088 at 224.
    """
    b = GraphBuilder("vgg19", (3, resolution, resolution))
    x = "input"
    for stage, (depth, width) in enumerate(zip(_STAGES, _WIDTHS), start=1):
        for i in range(1, depth + 1):
            x = conv_bn_act(b, x, width, 3, bias=True, name=f"stage{stage}.conv{i}")
        x = b.pool(x, "max", 2, name=f"stage{stage}.pool")
    if resolution <= SMALL_INPUT:
        classifier(b, x, classes)
        return b.build()
    x = b.flatten(x, name="flatten")
    for i in (1, 2):
        x = b.relu(b.linear(x, 4096, name=f"fc{i}"), name=f"fc{i}.relu")
    b.linear(x, classes, name="fc3")
    return b.build()
