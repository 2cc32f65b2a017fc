"""Lowering: GEMM dims per phase, which operand is N:M where, and what flows back."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dataflow.lowering import Lowering, lower
from hwsim.dataflow.ops import GemmOp, Phase
from hwsim.dataflow.sparsity import NM, Method, SparsityError, resolve
from hwsim.models import GraphBuilder


def small_cnn():
    b = GraphBuilder("small", (3, 16, 16))
    x = b.conv("input", 32, 3, name="conv1")           # k = 27: never N:M (and first layer)
    x = b.relu(x)
    y = b.conv(x, 64, 3, stride=2, name="conv2")       # k = 288, out 64
    y = b.bn(y)
    y = b.relu(y)
    z = b.conv(y, 64, 1, name="conv3")                 # k = 64
    z = b.sum(y, z, name="add")
    z = b.global_pool(z)
    z = b.flatten(z)
    b.linear(z, 10, name="fc")
    return b.build()


def gemms(ops, phase=None):
    return {op.name: op for op in ops if isinstance(op, GemmOp) and (phase is None or op.phase is phase)}


def test_conv_gemm_dims_per_phase():
    ops = gemms(lower(small_cnn(), Lowering(batch=4)))
    ff, wu = ops["conv2.ff"], ops["conv2.wu"]
    assert (ff.m, ff.k, ff.n) == (4 * 8 * 8, 32 * 9, 64)
    assert (wu.m, wu.k, wu.n) == (32 * 9, 4 * 8 * 8, 64)
    assert ff.dense_macs == wu.dense_macs == 4 * small_cnn().layer("conv2").macs
    assert ff.a_reuse == pytest.approx(9 / 4)  # a 3x3 stride-2 window reads each input 2.25 times


def test_strided_bp_is_split_into_sub_pixel_gemms_with_ff_macs():
    ops = gemms(lower(small_cnn(), Lowering(batch=4)))
    phases = [op for name, op in ops.items() if name.startswith("conv2.bp")]
    # 3x3 stride 2 over a 16x16 input: phases (0,0) 2x2 taps, (0,1)/(1,0) 2x1, (1,1) 1x1; 8x8 positions each
    assert sorted((op.m, op.k, op.n) for op in phases) == sorted(
        [(4 * 64, 64 * 4, 32), (4 * 64, 64 * 2, 32), (4 * 64, 64 * 2, 32), (4 * 64, 64, 32)])
    assert sum(op.dense_macs for op in phases) == ops["conv2.ff"].dense_macs


def test_stride_one_bp_is_one_transposed_conv():
    bp = gemms(lower(small_cnn(), Lowering(batch=2)))["conv3.bp"]
    assert (bp.m, bp.k, bp.n) == (2 * 8 * 8, 64, 64)


def test_no_gradient_flows_into_the_image():
    ops = lower(small_cnn(), Lowering(batch=2))
    names = {op.name for op in ops}
    assert "conv1.bp" not in names and "conv1.wu" in names
    assert "conv2.bp.00" in names  # conv1's weights need the gradient of its output


@pytest.mark.parametrize("method,ff,bp", [("dense", False, False), ("srste", True, False), ("bdwp", True, True),
                                          ("transposable", True, True)])
def test_which_phase_is_sparse(method, ff, bp):
    meth, nm = resolve(method, None if method == "dense" else "2:8")
    ops = gemms(lower(small_cnn(), Lowering(meth, nm, batch=2)))
    assert (ops["conv2.ff"].nm is not None) == ff
    assert (ops["conv2.bp.00"].nm is not None) == bp
    assert (ops["conv3.bp"].nm is not None) == bp
    assert ops["conv2.wu"].nm is None  # WU is always dense
    assert ops["conv1.ff"].nm is None  # reduction 27 is no multiple of 8 (and it is the first layer)
    assert ops["fc.ff"].nm is None  # the classifier stays dense by default


def test_sparse_ops_do_n_over_m_of_the_macs():
    ops = gemms(lower(small_cnn(), Lowering(Method.BDWP, NM(2, 8), batch=2)))
    op = ops["conv3.ff"]
    assert op.macs * 4 == op.dense_macs


def test_dense_ends_can_be_turned_off():
    ops = gemms(lower(small_cnn(), Lowering(Method.BDWP, NM(1, 4), batch=2, dense_ends=False)))
    assert ops["fc.ff"].nm == NM(1, 4)  # 64 features, multiple of 4


def test_pregen_moves_selection_into_the_update():
    lazy = lower(small_cnn(), Lowering(Method.BDWP, NM(2, 8), batch=2, pregen=False))
    eager = lower(small_cnn(), Lowering(Method.BDWP, NM(2, 8), batch=2, pregen=True))
    assert gemms(lazy)["conv3.ff"].select_on_load and not gemms(eager)["conv3.ff"].select_on_load
    upd = {op.name: op for op in eager if op.kind == "update"}
    assert upd["conv3.update"].select_passes == 2  # one mask per direction
    assert {op.name: op for op in lazy if op.kind == "update"}["conv3.update"].select_passes == 0


def test_activations_fuse_into_their_producer():
    fused = lower(small_cnn(), Lowering(batch=2))
    unfused = lower(small_cnn(), Lowering(batch=2, fuse=False))
    names = {op.name for op in fused}
    assert "relu1.ff" not in names and "relu2.ff" not in names  # into conv1's output stage, into bn1's pass
    assert {"relu1.ff", "relu2.ff", "relu2.bp"} <= {op.name for op in unfused}
    bn = {op.name: op for op in fused}["bn1.ff"]
    assert bn.ops_per_elem == {op.name: op for op in unfused}["bn1.ff"].ops_per_elem + 1


def test_inference_only():
    ops = lower(small_cnn(), Lowering(batch=1, phases=frozenset({Phase.FF})))
    assert ops and all(op.phase is Phase.FF for op in ops)


def test_execution_order_forward_then_reverse():
    ops = lower(small_cnn(), Lowering(batch=1))
    names = [op.name for op in ops]
    assert names.index("fc.ff") < names.index("fc.wu") < names.index("conv3.bp") < names.index("conv1.wu")


@pytest.mark.parametrize("text,msg", [("5:4", "expected 0 < N < M"), ("2:x", "N:M spec"), ("0:4", "0 < N < M"),
                                      ("2:1", "M >= 2"), ("28", "N:M spec")])
def test_bad_nm_is_named(text, msg):
    with pytest.raises(SparsityError, match=msg) as err:
        NM.parse(text)
    assert str(err.value).startswith("nm:")


def test_method_and_nm_must_agree():
    with pytest.raises(SparsityError, match="missing"):
        resolve("bdwp", None)
    with pytest.raises(SparsityError, match="method dense"):
        resolve("dense", "2:8")
    with pytest.raises(SparsityError, match="unknown method 'rigl'"):
        resolve("rigl", "2:8")


@st.composite
def conv_stacks(draw):
    """Random small CNNs: conv/bn/relu stacks with random kernels, strides, paddings, groups, residuals."""
    size = draw(st.integers(4, 24))
    b = GraphBuilder("rand", (draw(st.sampled_from([3, 8, 16])), size, size))
    x = "input"
    for i in range(draw(st.integers(1, 5))):
        cin, h, _ = b.shape(x)
        k = draw(st.sampled_from([1, 3, 5]))
        stride = draw(st.sampled_from([1, 2])) if h > 2 else 1
        groups = draw(st.sampled_from([1, cin])) if i else 1
        out = cin if groups > 1 else draw(st.sampled_from([8, 16, 32]))
        y = b.conv(x, out, k, stride=stride, groups=groups)
        y = b.relu(b.bn(y))
        x = b.sum(x, y) if b.shape(x) == b.shape(y) and draw(st.booleans()) else y
    b.linear(b.flatten(b.global_pool(x)), draw(st.integers(2, 20)))
    return b.build()


@settings(max_examples=60, deadline=None)
@given(conv_stacks(), st.sampled_from(["dense", "srste", "bdwp", "transposable"]), st.sampled_from(["2:4", "1:8"]),
       st.integers(1, 4))
def test_random_graphs_lower_consistently(graph, method, nm, batch):
    meth, spec = resolve(method, None if method == "dense" else nm)
    ops = lower(graph, Lowering(meth, spec, batch=batch))
    by_layer = {}
    for op in ops:
        by_layer.setdefault((op.layer, op.phase), []).append(op)
        assert all(getattr(op, dim, 1) > 0 for dim in ("m", "k", "n", "groups", "elems"))
    for layer in graph.weighted_layers:
        ff, = by_layer[(layer.name, Phase.FF)]
        red = layer.macs // layer.out_elems  # the unpadded reduction length
        padded = red if ff.nm is None else -(-red // ff.nm.group) * ff.nm.group
        assert ff.k == padded and ff.dense_macs == batch * layer.macs // red * padded
        assert ff.macs <= batch * layer.macs  # padding only where it still saves MACs
        wu = [op for op in by_layer[(layer.name, Phase.WU)] if isinstance(op, GemmOp)]
        assert sum(op.dense_macs for op in wu) == batch * layer.macs and all(op.nm is None for op in wu)
        for op in [op for op in by_layer.get((layer.name, Phase.BP), []) if isinstance(op, GemmOp)] + [ff]:
            if op.nm is not None:
                assert op.k % op.nm.group == 0 and op.macs * op.nm.group == op.dense_macs * op.nm.keep
    assert (graph.weighted_layers[0].name, Phase.BP) not in by_layer  # nothing flows into the image


def _linear(in_features, out_features=16):
    b = GraphBuilder("lin", (4, 8), input_grad=True)  # a block input: no dense first layer
    x = b.linear("input", in_features, name="l0")
    x = b.linear(x, out_features, name="l1")
    b.linear(x, 8, name="head")
    return b.build()


def test_a_reduction_that_is_no_multiple_of_m_is_padded():
    ops = gemms(lower(_linear(12), Lowering(Method.BDWP, NM(2, 8), batch=1)))
    ff, bp = ops["l1.ff"], ops["l1.bp"]
    assert ff.nm == NM(2, 8) and ff.k == 16  # 12 -> 16: two groups of 8, the last with 4 zeros
    assert ff.macs == 4 * 16 * 16 // 4  # the padded positions are costed: 4 of 16 kept per output
    assert bp.nm == NM(2, 8) and bp.k == 16 and bp.n == 12  # BP reduces over the 16 outputs: no padding


def test_padding_can_be_turned_off():
    ops = gemms(lower(_linear(12), Lowering(Method.BDWP, NM(2, 8), batch=1, pad=False)))
    assert ops["l1.ff"].nm is None and ops["l1.ff"].k == 12


def test_no_padding_where_it_would_do_more_macs_than_dense():
    for k, sparse in ((1, False), (2, False), (3, True)):  # padded to 4 at 2:4, keeping 2: worth it below k = 3
        ff = gemms(lower(_linear(k), Lowering(Method.BDWP, NM(2, 4), batch=1)))["l1.ff"]
        assert (ff.nm is not None) == sparse and ff.k == (4 if sparse else k), k


def test_update_and_load_select_the_transposable_mask_with_its_own_search():
    from hwsim.dataflow.ops import VectorOp

    for pregen in (True, False):
        ops = lower(_linear(16), Lowering(Method.TRANSPOSABLE, NM(2, 8), batch=1, pregen=pregen))
        upd = next(op for op in ops if op.name == "l1.update")
        ff = gemms(ops)["l1.ff"]
        # greedy search on an 8 x 8 block: sort (2 log2 8 = 6 visits per element) + one accept pass
        assert (upd.select_passes, ff.select_passes) == ((7, 1) if pregen else (0, 7))
        assert isinstance(upd, VectorOp)
    bdwp = lower(_linear(16), Lowering(Method.BDWP, NM(2, 8), batch=1))
    assert next(op for op in bdwp if op.name == "l1.update").select_passes == 2  # one top-N pass per direction


def test_strided_1x1_bp_writes_the_whole_input_gradient():
    from hwsim.dataflow.ops import VectorOp

    b = GraphBuilder("down", (8, 8, 8), input_grad=True)
    b.conv("input", 16, 1, stride=2, name="down")
    ops = lower(b.build(), Lowering(batch=2))
    bp = [op for op in ops if op.phase is Phase.BP]
    gemm, zero = bp
    assert (gemm.m, gemm.k, gemm.n) == (2 * 16, 16, 8)  # only input positions (even, even) get a tap: 4 x 4
    assert isinstance(zero, VectorOp) and zero.name == "down.bp.zero"
    assert zero.elems == 2 * (64 - 16) * 8 and zero.read_bytes_per_elem == 0 and zero.write_bytes_per_elem == 2
    assert gemm.m * gemm.n + zero.elems == 2 * 8 * 8 * 8  # together: every element of dX written once
