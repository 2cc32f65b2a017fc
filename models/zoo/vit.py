"""Vision Transformers: the CIFAR-10 ViT of the SAT experiments, and ViT-Base/16."""

from hwsim.models.builder import GraphBuilder
from hwsim.models.errors import ModelError
from hwsim.models.graph import Graph
from hwsim.models.zoo.transformer import attention, mlp

VIT_CIFAR = ("ViT for CIFAR-10: patch 4 (32x32 -> 64 tokens + class token), dim 512, depth 6, 8 heads, "
             "MLP 2048 (GELU), pre-norm LayerNorm, positional embedding, class-token head, 10 classes")
VIT_B16 = ("ViT-Base/16 (ImageNet): patch 16 (224x224 -> 196 tokens + class token), dim 768, depth 12, "
           "12 heads, MLP 3072 (GELU), pre-norm LayerNorm, class-token head, 1000 classes")


def _vit(name: str, resolution: int, classes: int, *, patch: int, dim: int, depth: int, heads: int,
         hidden: int) -> Graph:
    """Patch embedding as Conv2d(kernel = stride = patch, bias), Reshape (D, h, w) -> (T, D) (shapes only),
    PosEmbed (class token + positional embedding), ``depth`` pre-norm encoder blocks
    (x + attn(LN(x)), x + mlp(LN(x))), final LayerNorm, the class token (Slice + Reshape), Linear head."""
    if resolution % patch:
        raise ModelError(f"patch_embed: {patch}x{patch} patches do not tile a {resolution}x{resolution} input "
                         f"(expected a multiple of {patch})")
    b = GraphBuilder(name, (3, resolution, resolution))
    x = b.conv("input", dim, patch, stride=patch, padding=0, bias=True, name="patch_embed")
    x = b.posembed(b.reshape(x, ((resolution // patch) ** 2, dim), name="tokens"), name="pos_embed")
    for i in range(depth):
        block = f"blocks.{i}"
        x = b.sum(x, attention(b, b.ln(x, name=f"{block}.norm1"), heads, f"{block}.attn"), name=f"{block}.add1")
        x = b.sum(x, mlp(b, b.ln(x, name=f"{block}.norm2"), hidden, f"{block}.mlp"), name=f"{block}.add2")
    x = b.slice(b.ln(x, name="norm"), 0, 0, 1, name="cls")
    b.linear(b.reshape(x, (dim,), name="cls.flatten"), classes, name="head")
    return b.build()


def vit_cifar(resolution: int, classes: int) -> Graph:
    """ViT for CIFAR-10: patch 4 (32x32 -> 64 tokens + class token), dim 512, depth 6, 8 heads,
    MLP 512*4 = 2048 (GELU), pre-norm LayerNorm, 10 classes by default."""
    return _vit("vit", resolution, classes, patch=4, dim=512, depth=6, heads=8, hidden=2048)


def vit_b16(resolution: int, classes: int) -> Graph:
    """ViT-Base/16: patch 16, dim 768, depth 12, 12 heads, MLP 3072."""
    return _vit("vit-b16", resolution, classes, patch=16, dim=768, depth=12, heads=12, hidden=3072)
