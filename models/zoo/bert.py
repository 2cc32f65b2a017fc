"""One BERT-base encoder block, the unit a transformer workload repeats."""

from hwsim.models.builder import GraphBuilder
from hwsim.models.graph import Graph
from hwsim.models.zoo.transformer import attention, mlp

DIM, HEADS, HIDDEN = 768, 12, 3072


def bert_base_layer(resolution: int, classes: int | None) -> Graph:
    """BERT-base encoder block on a (T, 768) input, T = ``resolution`` (sequence length): 12-head
    self-attention, Add, LayerNorm, FFN 3072 (GELU), Add, LayerNorm (post-norm). No embeddings, no
    classifier (``classes`` is unused). Dropout and the attention mask are not modelled. The block sits
    inside a network, so its input needs a gradient (``input_grad``)."""
    b = GraphBuilder("bert-base-layer", (resolution, DIM), input_grad=True)
    x = b.ln(b.sum("input", attention(b, "input", HEADS, "attention"), name="attention.add"),
             name="attention.norm")
    b.ln(b.sum(x, mlp(b, x, HIDDEN, "ffn"), name="ffn.add"), name="ffn.norm")
    return b.build()
