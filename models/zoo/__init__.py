"""The model zoo: named workloads with a default input resolution and class count.

``resolution`` is the image side for CNNs and ViTs, and the sequence length for token models;
``classes`` sizes the classifier (models without one have ``default_classes = None`` and refuse it).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from hwsim.models import checks
from hwsim.models.errors import ModelError, show
from hwsim.models.graph import Graph
from hwsim.models.zoo import bert, efficientnet, mobilenet, resnet, tiny, vgg, vit


@dataclass(frozen=True)
class ModelInfo:
    """What a zoo name stands for, and the defaults ``build`` uses."""

    name: str
    description: str
    default_resolution: int | None
    default_classes: int | None


Builder = Callable[[int, int | None], Graph]

_TINY = ("int8 backbone of 'On-Device Training Under 256KB Memory' built from its layer table ({}): no "
         "BatchNorm, ReLU6/int8 clamp after every conv, global average pool, Linear({} -> classes)")

_ENTRIES: tuple[tuple[ModelInfo, Builder], ...] = (
    (ModelInfo("resnet9", "ResNet-9 of DAWNBench (Myrtle) for CIFAR: convs 64-128-256-512, two residual "
               "blocks, global max pool", 32, 10), resnet.resnet9),
    (ModelInfo("resnet18", "ResNet-18, torchvision layout (ImageNet stem kept at small resolutions)", 224, 1000),
     resnet.resnet18),
    (ModelInfo("resnet18-s1", "ResNet-18 with the CIFAR/Tiny-ImageNet stem (3x3/1 conv, no max-pool), the usual "
               "adaptation for 32-64 px inputs", 64, 200), resnet.resnet18_small_stem),
    (ModelInfo("resnet50", "ResNet-50 v1.5, torchvision layout (ImageNet stem kept at small resolutions)", 224,
               1000), resnet.resnet50),
    (ModelInfo("vgg19", "VGG-19 with BatchNorm: CIFAR head (global avg pool, Linear 512 -> classes) up to 64x64, "
               "torchvision's 4096-4096 head above", 32, 100), vgg.vgg19),
    (ModelInfo("vit", vit.VIT_CIFAR, 32, 10), vit.vit_cifar),
    (ModelInfo("vit-b16", vit.VIT_B16, 224, 1000), vit.vit_b16),
    (ModelInfo("mobilenetv2", "MobileNetV2 width 1.0, torchvision layout", 224, 1000), mobilenet.mobilenetv2),
    *((ModelInfo(f"mobilenetv2-w{w:g}", f"MobileNetV2 width multiplier {w:g}, torchvision layout", 224, 1000),
       partial(mobilenet.mobilenetv2, width=w)) for w in (0.35, 0.5, 1.4)),
    (ModelInfo("efficientnet-b0", "EfficientNet-B0, torchvision layout: MBConv blocks with squeeze-excitation, SiLU, "
               "stochastic depth (a scale pass in training), Dropout(0.2) before the classifier", 224, 1000),
     efficientnet.efficientnet_b0),
    (ModelInfo("mcunet-5fps", _TINY.format("MCUNet-5FPS", 160), 128, 1000),
     partial(tiny.from_table, "mcunet-5fps")),
    (ModelInfo("mbv2-w0.35", _TINY.format("MobileNetV2-w0.35", 112), 128, 1000),
     partial(tiny.from_table, "mbv2-w0.35")),
    (ModelInfo("proxyless-w0.3", _TINY.format("ProxylessNAS-w0.3", 96), 128, 1000),
     partial(tiny.from_table, "proxyless-w0.3")),
    (ModelInfo("bert-base-layer", "one BERT-base encoder block (d 768, 12 heads, FFN 3072, GELU, post-norm "
               "LayerNorm); resolution = sequence length", 128, None), bert.bert_base_layer),
)
_ZOO: dict[str, tuple[Builder, ModelInfo]] = {info.name: (builder, info) for info, builder in _ENTRIES}


def names() -> list[str]:
    """All zoo names, sorted."""
    return sorted(_ZOO)


def info(name: str) -> ModelInfo:
    """What ``name`` is and its defaults."""
    return _lookup(name)[1]


def build(name: str, resolution: int | None = None, classes: int | None = None) -> Graph:
    """The Graph of zoo model ``name``; None takes the model's default resolution / classes."""
    builder, meta = _lookup(name)
    size = meta.default_resolution if resolution is None else checks.integer("resolution", resolution)
    if classes is not None and meta.default_classes is None:
        raise ModelError(f"classes: {classes!r} given for model {name!r} (expected none: it has no classifier)")
    count = meta.default_classes if classes is None else checks.integer("classes", classes)
    try:
        return builder(size, count)
    except ModelError as error:
        raise ModelError(f"resolution: {size} does not fit model {name!r} ({error})") from None


def _lookup(name: str) -> tuple[Builder, ModelInfo]:
    if not isinstance(name, str) or name not in _ZOO:
        raise ModelError(f"model: unknown model {show(name)} (expected one of: {', '.join(names())})")
    return _ZOO[name]
