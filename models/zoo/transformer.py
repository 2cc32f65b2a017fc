"""Transformer sub-blocks on (T, D) token inputs, shared by ViT and BERT."""

from hwsim.models.builder import GraphBuilder
from hwsim.models.errors import ModelError


def attention(b: GraphBuilder, x: str, heads: int, name: str) -> str:
    """Multi-head self-attention; returns the output projection (T, D).

    One Linear D -> 3D makes q, k and v (three Slices of it), each Reshaped to (heads, T, D/heads);
    scores = MatMul(q, k, transpose_b) (the 1/sqrt(d) scale is element-wise and folded into the softmax);
    softmax; context = MatMul(scores, v); Reshape back to (T, D); Linear projection D -> D.
    """
    tokens, dim = b.shape(x)
    if dim % heads:
        raise ModelError(f"heads: {heads} does not divide the model dim {dim} (expected a divisor)")
    qkv = b.linear(x, 3 * dim, name=f"{name}.qkv")
    q, k, v = (b.reshape(b.slice(qkv, -1, i * dim, (i + 1) * dim, name=f"{name}.{part}"),
                         (heads, tokens, dim // heads), name=f"{name}.{part}.heads")
               for i, part in enumerate("qkv"))
    scores = b.act(b.matmul(q, k, transpose_b=True, name=f"{name}.scores"), "softmax", name=f"{name}.softmax")
    context = b.reshape(b.matmul(scores, v, name=f"{name}.context"), (tokens, dim), name=f"{name}.merge")
    return b.linear(context, dim, name=f"{name}.proj")


def mlp(b: GraphBuilder, x: str, hidden: int, name: str) -> str:
    """Linear D -> hidden, GELU, Linear hidden -> D."""
    y = b.act(b.linear(x, hidden, name=f"{name}.fc1"), "gelu", name=f"{name}.gelu")
    return b.linear(y, b.shape(x)[-1], name=f"{name}.fc2")
