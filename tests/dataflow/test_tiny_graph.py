"""The int8 training graph: folding, what each backward op keeps, pruning, reordering, analytic memory.

Expected numbers are worked by hand on small graphs (in the comments), or are the paper's published figures.
"""
import math

import pytest

from hwsim.dataflow.tiny import GraphError, Precision, int8_graph, lifetimes, plan_arena, training_graph
from hwsim.dataflow.tiny.scheme import Scheme, published
from hwsim.models import GraphBuilder, zoo


def small(bn: bool = False):
    """input 3x8x8 -> conv0 3x3 3->4 (+relu6) -> conv1 1x1 4->8 (+relu6) -> avgpool -> flatten -> fc 8->2."""
    b = GraphBuilder("small", (3, 8, 8))
    x = b.conv("input", 4, 3, bias=not bn, name="conv0")
    x = b.bn(x, name="conv0.bn") if bn else x
    x = b.act(x, "relu6", name="conv0.relu6")
    x = b.conv(x, 8, 1, bias=True, name="conv1")
    x = b.act(x, "relu6", name="conv1.relu6")
    x = b.global_pool(x, name="avgpool")
    b.linear(b.flatten(x, name="flatten"), 2, name="fc")
    return b.build()


def test_bn_and_clamps_fold():
    nodes = int8_graph(small(bn=True))
    assert [(n.name, n.kind, n.clamp, n.conv) for n in nodes] == [
        ("conv0", "conv", True, 0), ("conv1", "conv", True, 1), ("avgpool", "gpool", False, None),
        ("flatten", "reshape", False, None), ("fc", "linear", False, None)]
    assert nodes[1].inputs == ("conv0",)


def test_hand_worked_sparse_step():
    """bias depth 1, conv1's weights at ratio 0.5 (2 of 4 input channels). By hand, in bits:
    conv1 clamp mask 8*8*8 = 512; conv1 bias 8 * 32 = 256; conv1 weight slice 8 out * 2 in * 8 = 128;
    conv1 saved input slice 2 * 8*8 * 8 = 1024; fc saved input 8 * 8 = 64. Total 1984 bits = 248 bytes.
    The classifier's own fp32 weights are not on the paper's axis."""
    tg = training_graph(small(), Scheme("s", 1, (1,), (0.5,)), reorder=True)
    assert tg.analytic_extra_bytes == 248
    names = [op.name for op in tg.ops if op.phase != "forward"]
    # conv1 is the deepest updated conv: no data gradient below it; conv0 gets nothing
    assert "conv1.dx" not in names and not any(n.startswith("conv0.") for n in names)
    assert "conv1.mask" in tg.tensor and "conv0.mask" not in tg.tensor
    assert tg.tensor["conv1.saved"].nbytes == 2 * 64  # only the updated channels are kept
    assert tg.tensor["conv1.w"].nbytes == 16 and tg.tensor["conv1.b"].nbytes == 32
    # weight gradient reads the slice; data gradient of fc reads fc's trainable copy
    dw = next(op for op in tg.ops if op.name == "conv1.dW")
    assert set(dw.reads) == {"conv1.grad" if "conv1.grad" in tg.tensor else dw.reads[0], "conv1.saved"}
    assert dw.macs == 16 * 64  # 16 weights, 8x8 output positions
    assert tg.trained_params == 16 + 8 + 8 * 2 + 2  # conv1 slice + bias, fc weights + bias


def test_frozen_weights_read_from_flash_and_full_ratio_keeps_the_activation():
    tg = training_graph(small(), Scheme("s", 2, (1,), (1.0,)), reorder=True)
    assert "conv1.saved" not in tg.tensor  # the whole input is the activation itself, kept alive
    dx = next(op for op in tg.ops if op.name == "conv1.dx")
    assert dx.flash_bytes == 0 and "conv1.w" in dx.reads  # trained in full: the SRAM copy
    fwd0 = next(op for op in tg.ops if op.name == "conv0.fwd")
    assert fwd0.flash_bytes == 3 * 4 * 9 + 4 * (4 + 4)  # int8 weights, int32 bias, fp32 scale per channel
    assert "conv0.dx" not in [op.name for op in tg.ops]  # nothing flows back to the image


def test_reordering_puts_each_update_right_after_its_gradient():
    tg = training_graph(small(), "full", reorder=True)
    ops = [op.name for op in tg.ops]
    assert sum(".update." in name for name in ops) == 6  # conv0, conv1, fc: weight and bias each
    for i, name in enumerate(ops):
        if ".update." in name:
            grad = ops[i - 1]
            assert grad.split(".")[0] == name.split(".")[0] and grad.endswith(("dW", "db")), (grad, name)
    plain = training_graph(small(), "full", reorder=False)
    tail = [op.phase for op in plain.ops][-6:]
    assert tail == ["update"] * 6  # conv0, conv1, fc: weight and bias each, after the backward pass


def test_residual_gradient_is_accumulated():
    b = GraphBuilder("res", (4, 4, 4))
    x = b.conv("input", 4, 1, bias=True, name="c0")
    y = b.conv(x, 4, 1, bias=True, name="c1")
    s = b.sum(x, y, name="add")
    b.linear(b.flatten(b.global_pool(s, name="gp"), name="fl"), 2, name="fc")
    tg = training_graph(b.build(), "full")
    assert [op.kernel for op in tg.ops if op.layer == "add" and op.phase == "backward"] == ["copy"]
    acc = [op for op in tg.ops if op.kernel == "accumulate"]  # c0's output gradient sums both paths
    assert len(acc) == 1 and "c1.dx" in acc[0].reads and acc[0].writes[0] in acc[0].reads


@pytest.mark.parametrize("model", ["bert-base-layer", "vit"])
def test_non_cnn_is_refused(model):
    with pytest.raises(GraphError, match=f"model: {model} is not a CNN"):
        int8_graph(zoo.build(model))


# Published: "On-Device Training Under 256KB Memory" (sources in docs/tiny.md): analytic extra
# memory of mcunet-5fps's 99kb scheme = 99.8KB, of updating its last 12 convs' weights and biases = 448KB.
@pytest.mark.parametrize("scheme, kb", [("mcunet-5fps:99kb", 99.8), ("last-12", 448.0)])
def test_analytic_golden_mcunet(scheme, kb):
    tg = training_graph(zoo.build("mcunet-5fps", 128, 10), scheme)
    assert tg.analytic_extra_bytes / 1024 == pytest.approx(kb, rel=0.005)


@pytest.mark.parametrize("name", [f"{m}:{label}" for m, table in published().items() for label in table])
def test_every_published_scheme_lands_near_its_label(name):
    model, label = name.split(":")
    tg = training_graph(zoo.build(model, 128, 10), name)
    assert tg.analytic_extra_bytes / 1024 == pytest.approx(float(label[:-2]), rel=0.03)


def test_mask_counts_one_bit_per_clamped_output():
    tg = training_graph(small(), Scheme("s", 2))
    assert tg.tensor["conv0.mask"].nbytes == math.ceil(4 * 8 * 8 / 8)
    assert "conv0.dx" not in tg.tensor  # nothing flows back to the image
    assert tg.tensor["conv1.dx"].nbytes == 4 * 64 * Precision().grad  # conv1's input gradient, 4x8x8 fp32


def test_reordering_lowers_the_peak_on_each_backbone():
    for model, scheme in (("mcunet-5fps", "99kb"), ("mbv2-w0.35", "99kb"), ("proxyless-w0.3", "98kb")):
        g = zoo.build(model, 128, 10)
        peaks = []
        for reorder in (False, True):
            tg = training_graph(g, scheme, reorder=reorder, patches=4)
            peaks.append(plan_arena(lifetimes(tg.tensors, tg.ops), len(tg.ops)).peak)
        assert peaks[1] < 0.8 * peaks[0], (model, peaks)


def test_patch_stage_by_hand():
    """input 1x8x8 -> c0 3x3/1 1->2 -> c1 3x3/2 2->2 -> c2 1x1 2->4 -> pool -> fc, 2x2 patches, int8.
    Whole-tensor forward peak: c0's input 64 B + output 128 B = 192 B.
    Split after c1 (output 2x4x4, patch 2x2): c1 needs a 5x5 patch of c0's output ((2-1)*2+3), c0 a 7x7 patch of
    the input. One patch's intermediates: c0's 2x5x5 = 50 B (c1's patch goes straight into the full output).
    Stage memory 64 (input) + 32 (c1 output) + 50 = 146 B; the rest peaks at c2's 32 + 64 = 96 B: cost 146.
    Split after c2: buffer 50 + 8 = 58, stage 64 + 64 + 58 = 186; after c0: 64 + 128 + 0 = 192 (no gain).
    c0 computes 4 patches of 5x5 outputs for its 8x8: 100/64 = 1.5625x the MACs."""
    from hwsim.dataflow.tiny.graph import patch_stage

    b = GraphBuilder("p", (1, 8, 8))
    x = b.act(b.conv("input", 2, 3, bias=True, name="c0"), "relu6", name="c0.r")
    x = b.act(b.conv(x, 2, 3, stride=2, bias=True, name="c1"), "relu6", name="c1.r")
    x = b.conv(x, 4, 1, bias=True, name="c2")
    b.linear(b.flatten(b.global_pool(x, name="gp"), name="fl"), 2, name="fc")
    nodes = int8_graph(b.build())
    needs = {n.name: n.name == "fc" for n in nodes}
    stage = patch_stage(nodes, needs, 2)
    assert stage.nodes == ("c0", "c1") and stage.buffer_bytes == 50
    assert stage.recompute["c0"] == pytest.approx(1.5625) and stage.recompute["c1"] == 1.0
    assert patch_stage(nodes, needs, 9) is None  # no split helps when patches exceed the output size


def _patch_graph():
    b = GraphBuilder("p", (1, 8, 8))
    x = b.act(b.conv("input", 2, 3, bias=True, name="c0"), "relu6", name="c0.r")
    x = b.act(b.conv(x, 2, 3, stride=2, bias=True, name="c1"), "relu6", name="c1.r")
    x = b.conv(x, 4, 1, bias=True, name="c2")
    b.linear(b.flatten(b.global_pool(x, name="gp"), name="fl"), 2, name="fc")
    return b.build()


def test_patch_stage_input_and_output_live_across_every_patch():
    """The graph of test_patch_stage_by_hand, classifier-only update, 2x2 patches: the stage is c0, c1 (ops 0, 1).
    Every patch reads the input (64 B) and writes its tile of c1's output (2x4x4 = 32 B), so both live at ops 0
    and 1, next to the patch buffer (50 B) and the classifier's fp32 copies (4x2 weights + 2 biases = 40 B):
    186 B alive at each stage op. (The bug: the input died after op 0 and c1 appeared at op 1: 154 / 122 B.)"""
    tg = training_graph(_patch_graph(), Scheme("s", 0), patches=2)
    assert tg.stage.nodes == ("c0", "c1")
    lives = {life.name: (life.start, life.end) for life in lifetimes(tg.tensors, tg.ops)}
    assert lives["input"] == (0, 1)
    assert lives["c1"][0] == 0 and lives["c1"][1] >= 1
    assert lives["patch.buffer"] == (0, 1)
    plan = plan_arena(lifetimes(tg.tensors, tg.ops), len(tg.ops))
    assert plan.live[0] == plan.live[1] == 64 + 32 + 50 + 40


def test_every_requantized_conv_keeps_a_mask():
    """int8 requantization clamps every conv's output to [-128, 127], ReLU folded in or not: a conv without
    ReLU still needs its 1-bit mask (8x8x8 outputs = 64 B) and a clamp in backward, so folding a ReLU or not
    does not change the memory."""
    def graph(relu: bool):
        b = GraphBuilder("m", (3, 8, 8))
        x = b.act(b.conv("input", 4, 3, bias=True, name="conv0"), "relu6", name="conv0.r")
        x = b.conv(x, 8, 1, bias=True, name="conv1")
        x = b.act(x, "relu6", name="conv1.r") if relu else x
        b.linear(b.flatten(b.global_pool(x, name="gp"), name="fl"), 2, name="fc")
        return b.build()

    plain, folded = (training_graph(graph(relu), Scheme("s", 1)) for relu in (False, True))
    assert plain.tensor["conv1.mask"].nbytes == 64
    assert "conv1.clamp" in [op.name for op in plain.ops]
    assert plain.analytic_extra_bytes == folded.analytic_extra_bytes
    assert "fc.mask" not in plain.tensor  # the fp32 classifier is not requantized


def _doc_order(label: str) -> list[str]:
    from pathlib import Path

    import re
    text = (Path(__file__).resolve().parents[2] / "docs" / "tiny.md").read_text()
    line = next(line for line in text.splitlines() if line.startswith(label))
    return re.findall(r"`([^`]+)`", line.split(":", 1)[1])


def test_docs_give_the_backward_order_the_code_runs():
    """docs/tiny.md states the per-conv backward order; the ops of a dense conv and of a stride-1 in-place
    depthwise conv (weights, bias and data gradient all needed, reordered) come out in that order."""
    b = GraphBuilder("o", (4, 8, 8))
    x = b.act(b.conv("input", 8, 1, bias=True, name="pw0"), "relu6", name="pw0.r")
    x = b.act(b.conv(x, 8, 3, groups=8, bias=True, name="dw1"), "relu6", name="dw1.r")
    x = b.act(b.conv(x, 8, 1, bias=True, name="pw2"), "relu6", name="pw2.r")
    b.linear(b.flatten(b.global_pool(x, name="gp"), name="fl"), 2, name="fc")
    tg = training_graph(b.build(), Scheme("s", 3, (1, 2), (1.0, 1.0)), reorder=True)

    def order(layer):
        return [op.name[len(layer) + 1:] for op in tg.ops if op.layer == layer and op.phase != "forward"]

    assert order("pw2") == _doc_order("Backward order of a conv")
    assert order("dw1") == _doc_order("Backward order of an in-place depthwise conv")


def test_unfused_casts_by_hand():
    """small(), biases of both convs and conv1's weights trained. Un-fused (the reference compiler's graph):
    conv1's int8 weights (8 x 4 = 32) are cast to an fp32 copy (128 B) right before its transposed conv, and
    its saved input (conv0's output, 4 x 8 x 8 = 256) to an fp32 copy (1024 B) right before its weight
    gradient; each copy lives from its cast to the kernel reading it. Fused: no cast op, no copy."""
    fused = training_graph(small(), Scheme("s", 2, (1,), (1.0,)))
    tg = training_graph(small(), Scheme("s", 2, (1,), (1.0,)), fused_casts=False)
    assert not any(t.kind == "cast" for t in fused.tensors)
    order = [op.name[len("conv1."):] for op in tg.ops if op.layer == "conv1" and op.phase != "forward"]
    assert order == ["clamp", "cast.w", "dx", "db", "update.b", "cast.saved", "dW", "update.w"]
    assert (tg.tensor["conv1.w.f32"].nbytes, tg.tensor["conv1.saved.f32"].nbytes) == (128, 1024)
    ops = {op.name: (t, op) for t, op in enumerate(tg.ops)}
    lives = {life.name: (life.start, life.end) for life in lifetimes(tg.tensors, tg.ops)}
    assert lives["conv1.w.f32"] == (ops["conv1.cast.w"][0], ops["conv1.dx"][0])
    assert lives["conv1.saved.f32"] == (ops["conv1.cast.saved"][0], ops["conv1.dW"][0])
    assert "conv1.w.f32" in ops["conv1.dx"][1].reads and ops["conv1.cast.w"][1].elems == 32
    assert "conv1.saved.f32" in ops["conv1.dW"][1].reads and ops["conv1.cast.saved"][1].elems == 256


@pytest.mark.parametrize("model", ["mcunet-5fps", "mbv2-w0.35", "proxyless-w0.3"])
@pytest.mark.parametrize("patches", [2, 4])
def test_patch_stage_tensors_live_at_every_stage_op(model, patches):
    """On the backbones: the input and the stage output are alive at every op of the patch stage, every op's
    reads are alive when it runs, and a requantized conv that backprop passes through has its mask."""
    scheme = {"mcunet-5fps": "99kb", "mbv2-w0.35": "99kb", "proxyless-w0.3": "98kb"}[model]
    tg = training_graph(zoo.build(model, 128, 10), scheme, patches=patches, fused_casts=False)
    lives = {life.name: life for life in lifetimes(tg.tensors, tg.ops)}
    stage_ops = [t for t, op in enumerate(tg.ops) if op.phase == "forward" and op.layer in tg.stage.nodes]
    for name in ("input", tg.stage.nodes[-1]):
        assert lives[name].start <= stage_ops[0] and lives[name].end >= stage_ops[-1], name
    for t, op in enumerate(tg.ops):
        for name in op.reads:
            assert lives[name].start <= t <= lives[name].end, (op.name, name)
    for op in tg.ops:
        if op.kernel == "clamp":
            assert f"{op.layer}.mask" in op.reads
    convs_back = {op.layer for op in tg.ops if op.phase == "backward" and op.kernel.startswith(("dx.", "dw."))}
    assert all(f"{c}.mask" in lives for c in convs_back if not c.startswith("classifier"))
