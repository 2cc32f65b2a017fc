"""Training cost of the ops the ONNX importer adds (dropout, eltwise, affine, reduce, the new activations):
hand-worked element counts, operations and bytes per element (FP16, batch 4)."""
import pytest

from hwsim.dataflow.lowering import MASK_BYTES, Lowering, lower
from hwsim.dataflow.ops import Phase, VectorOp
from hwsim.models import GraphBuilder
from hwsim.models.ops import Affine, Dropout, Eltwise, Reduce

B = 4


def _head(b):
    """A linear head so that a gradient flows back through every layer before it."""
    return b.linear(b.flatten(b.last), 3, name="head")


def _passes(graph):
    ops = lower(graph, Lowering(batch=B, dense_ends=False))
    return {(op.layer, op.phase): op for op in ops if isinstance(op, VectorOp)}


def _cost(op):
    return op.elems, op.ops_per_elem, op.read_bytes_per_elem, op.write_bytes_per_elem


def test_dropout_writes_its_mask_forward_and_reads_it_back():
    b = GraphBuilder("d", (16,), input_grad=True)
    b.add(Dropout(0.1), "input", name="drop")
    _head(b)
    p = _passes(b.build())
    assert _cost(p["drop", Phase.FF]) == (64, 2, 2, 2 + MASK_BYTES)
    assert _cost(p["drop", Phase.BP]) == (64, 1, 2 + MASK_BYTES, 2)


def test_a_gate_reads_both_operands_and_writes_both_gradients():
    b = GraphBuilder("se", (8, 4, 4), input_grad=True)
    s = b.global_pool("input", name="squeeze")
    b.add(Eltwise("mul"), "input", s, name="gate")
    _head(b)
    p = _passes(b.build())
    assert _cost(p["gate", Phase.FF]) == (B * 128, 1, 4, 2)
    assert _cost(p["gate", Phase.BP]) == (B * 128, 3, 6, 4)


def test_a_learned_scale_is_a_vector_pass_with_its_own_update():
    b = GraphBuilder("ls", (8, 4, 4), input_grad=True)
    b.add(Affine("scale", (8, 1, 1)), "input", name="layer_scale")
    _head(b)
    ops = lower(b.build(), Lowering(batch=B, dense_ends=False))
    p = {(op.layer, op.phase, op.kind): op for op in ops if isinstance(op, VectorOp)}
    assert _cost(p["layer_scale", Phase.FF, "vector"]) == (B * 128, 1, 2, 2)
    assert _cost(p["layer_scale", Phase.BP, "vector"]) == (B * 128, 3, 4, 2)
    assert p["layer_scale", Phase.WU, "update"].elems == 8  # one scale per channel, updated like a weight


def test_a_mean_over_features_streams_the_input_and_writes_one_value_per_row():
    b = GraphBuilder("r", (5, 16), input_grad=True)
    b.add(Reduce("mean", (-1,)), "input", name="mean")
    _head(b)
    p = _passes(b.build())
    assert _cost(p["mean", Phase.FF]) == (B * 80, 1, 2, pytest.approx(2 / 16))
    assert _cost(p["mean", Phase.BP]) == (B * 80, 1, pytest.approx(2 / 16), 2)  # no argmax to read for a mean


@pytest.mark.parametrize("fn,ff,bp", [("clip", (2, 2, 2), (1, 2 + MASK_BYTES, 2)),
                                      ("tanh", (5, 2, 2), (3, 4, 2)), ("scale", (1, 2, 2), (1, 2, 2))])
def test_new_activations_cost_their_table_entry(fn, ff, bp):
    b = GraphBuilder("a", (32,), input_grad=True)
    b.act("input", fn, name="f")
    _head(b)
    p = _passes(b.build())
    assert _cost(p["f", Phase.FF])[1:] == ff and _cost(p["f", Phase.BP])[1:] == bp
