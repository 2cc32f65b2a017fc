"""Zoo models against published MAC/parameter counts, and the resolution/classes parameters."""

import dataclasses

import pytest

from hwsim import models
from hwsim.models import ModelError, zoo

# (name, resolution, classes, MACs, params, relative tolerance): torchvision / timm reference counts
PUBLISHED = [
    ("resnet50", 224, 1000, 4.09e9, 25.56e6, 0.02),
    ("resnet18", 224, 1000, 1.81e9, 11.69e6, 0.02),
    ("vgg19", 224, 1000, 19.6e9, 143.7e6, 0.02),
    ("mobilenetv2", 224, 1000, 300e6, 3.5e6, 0.02),
    ("mobilenetv2-w0.5", 224, 1000, 97e6, 1.95e6, 0.02),  # MobileNetV2 paper / TF-slim checkpoints table
    ("mobilenetv2-w1.4", 224, 1000, 582e6, 6.06e6, 0.02),
    ("vit-b16", 224, 1000, 17.6e9, 86.6e6, 0.02),
    ("resnet18-s1", 32, 10, 0.556e9, 11.17e6, 0.02),  # CIFAR ResNet-18 (kuangliu/pytorch-cifar): 0.56 GMACs, 11.2M
]


@pytest.mark.parametrize("name, resolution, classes, macs, params, tolerance", PUBLISHED)
def test_published_counts(name, resolution, classes, macs, params, tolerance):
    g = zoo.build(name, resolution, classes)
    assert g.macs == pytest.approx(macs, rel=tolerance)
    assert g.params == pytest.approx(params, rel=tolerance)


def test_exact_torchvision_parameter_counts():
    """torchvision's parameter counts (BatchNorm affine included, running stats not)."""
    assert zoo.build("resnet50").params == 25_557_032
    assert zoo.build("resnet18").params == 11_689_512
    assert zoo.build("mobilenetv2").params == 3_504_872
    assert zoo.build("vgg19", 224, 1000).params == 143_678_248
    assert zoo.build("vit-b16").params == 86_567_656


def test_resnet9_is_myrtle():
    g = zoo.build("resnet9")
    convs = [layer.op for layer in g.layers if layer.op.kind == "conv2d"]
    assert [c.out_channels for c in convs] == [64, 128, 128, 128, 256, 512, 512, 512]
    assert g.layers[-1].op.in_features == 512 and not g.layers[-1].op.bias
    assert g.layer("maxpool").op.mode == "max" and g.layer("maxpool").op.global_
    assert g.layers[-1].out_shape == (10,)
    assert 6.5e6 < g.params < 6.6e6
    assert g.macs == pytest.approx(379e6, rel=0.01)


def test_vgg19_heads():
    cifar = zoo.build("vgg19")
    assert (cifar.input_shape, cifar.layers[-1].out_shape) == ((3, 32, 32), (100,))
    assert sum(layer.op.kind == "conv2d" for layer in cifar.layers) == 16
    assert [layer.op.in_features for layer in cifar.weighted_layers[16:]] == [512]
    assert [layer.op.in_features for layer in zoo.build("vgg19", 64, 200).weighted_layers[16:]] == [512]
    assert [layer.op.in_features for layer in zoo.build("vgg19", 224).weighted_layers[16:]] == [25088, 4096, 4096]


def test_vit_cifar_as_stated():
    g = zoo.build("vit")
    assert g.layer("patch_embed").op.kernel == (4, 4) and g.layer("patch_embed").op.stride == (4, 4)
    assert g.layer("pos_embed").out_shape == (65, 512)
    assert sum(layer.op.kind == "matmul" for layer in g.layers) == 2 * 6
    assert g.layer("blocks.0.attn.scores").out_shape == (8, 65, 65)
    assert g.layer("blocks.5.mlp.fc1").out_shape == (65, 2048)
    assert g.layer("blocks.0.mlp.gelu").op.fn == "gelu"
    assert g.layer("blocks.0.add1").inputs == ("pos_embed", "blocks.0.attn.proj")  # pre-norm residual
    assert g.layers[-1].out_shape == (10,)
    for fact in ("patch 4", "64 tokens + class token", "dim 512", "depth 6", "8 heads", "MLP 2048", "pre-norm"):
        assert fact in zoo.info("vit").description


def test_mobilenetv2_structure():
    g = zoo.build("mobilenetv2")
    assert sum(layer.op.kind == "conv2d" and layer.op.depthwise for layer in g.layers) == 17
    assert sum(layer.op.kind == "add" for layer in g.layers) == 10  # stride-1 blocks keeping their width
    consumers = [layer.name for layer in g.layers if "block1.project.bn" in layer.inputs]
    assert consumers == ["block2.expand", "block2.add"]  # linear bottleneck: no activation after it
    assert g.layer("head").out_shape == (1280, 7, 7)


def test_bert_layer():
    g = zoo.build("bert-base-layer")
    assert g.input_shape == (128, 768) and g.layers[-1].out_shape == (128, 768)
    assert g.params == 7_087_872
    assert g.macs == 128 * (4 * 768 * 768 + 2 * 768 * 3072) + 2 * 12 * 128 * 128 * 64
    assert g.layer("attention.norm").inputs == ("attention.add",)  # post-norm
    assert zoo.build("bert-base-layer", 512).input_shape == (512, 768)


def test_resolution_scales_convnet_macs_not_params():
    small, large = zoo.build("resnet9", 32), zoo.build("resnet9", 64)
    assert large.params == small.params
    assert large.macs == pytest.approx(4 * small.macs, rel=1e-3)
    assert zoo.build("resnet50", 64).macs == pytest.approx(zoo.build("resnet50", 224).macs * (64 / 224) ** 2,
                                                           rel=0.05)


def test_small_stem_resnet18_keeps_full_resolution():
    g = zoo.build("resnet18-s1")
    assert g.input_shape == (3, 64, 64) and g.layer("conv1").op.kernel == (3, 3)
    assert g.layers[-1].out_shape == (200,)
    assert g.macs == pytest.approx(4 * zoo.build("resnet18-s1", 32, 200).macs, rel=1e-3)  # no stem stride


def test_small_resnet_keeps_imagenet_stem():
    g = zoo.build("resnet18", 64, 200)
    assert g.layer("conv1").op.kernel == (7, 7) and g.layer("maxpool").out_shape == (64, 16, 16)
    assert g.layers[-1].out_shape == (200,)


def test_classes_change_only_the_classifier():
    base, more = zoo.build("resnet50"), zoo.build("resnet50", classes=10)
    assert base.params - more.params == 2048 * 990 + 990
    assert base.macs - more.macs == 2048 * 990
    assert models.load("vit", classes=100).layers[-1].out_shape == (100,)


def test_vit_tokens_follow_resolution():
    assert zoo.build("vit", 64).layer("pos_embed").out_shape == (257, 512)
    assert zoo.build("vit-b16").layer("pos_embed").out_shape == (197, 768)


def test_names_and_info():
    assert zoo.names() == sorted(zoo.names())
    assert {"resnet9", "resnet18", "resnet50", "vgg19", "vit", "mobilenetv2", "mcunet-5fps", "mbv2-w0.35",
            "proxyless-w0.3", "bert-base-layer"} <= set(zoo.names())
    for name in zoo.names():
        meta = zoo.info(name)
        g = zoo.build(name)
        assert meta.name == name == g.name and meta.description
        assert g.layers[-1].out_shape[-1] == (meta.default_classes or g.input_shape[-1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        zoo.info("vit").name = "x"


def test_errors():
    with pytest.raises(ModelError, match=r"^model: unknown model 'resnet51' \(expected one of: .*resnet50"):
        zoo.build("resnet51")
    with pytest.raises(ModelError, match=r"^model: unknown model 'resnet51'"):
        zoo.info("resnet51")
    with pytest.raises(ModelError, match=r"^resolution: 0 \(expected an integer from 1 to 1,048,576\)"):
        zoo.build("resnet9", 0)
    with pytest.raises(ModelError, match=r"^classes: 2\.5 "):
        zoo.build("resnet9", classes=2.5)
    with pytest.raises(ModelError, match=r"^classes: 10 given for model 'bert-base-layer'"):
        zoo.build("bert-base-layer", classes=10)
    with pytest.raises(ModelError, match=r"^resolution: 30 does not fit model 'vit' \(patch_embed: 4x4"):
        zoo.build("vit", 30)
    with pytest.raises(ModelError, match=r"^resolution: 1 does not fit model 'vgg19' \(layer 'stage1.pool'"):
        zoo.build("vgg19", 1)
