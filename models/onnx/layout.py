"""Handlers of layout nodes: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Gather, Slice, Split, Concat,
Expand, Identity, Cast. Layout is not modelled (a reshape or slice costs nothing); what they decide is the
per-sample shape of the next layer and where the batch axis went (see ``convert``).
"""

import math

import numpy as np

from hwsim.models.onnx.registry import handles
from hwsim.models.ops import Concat, PosEmbed, Reshape, Slice


def _layout(c, node, x: str, out_full: tuple[int, ...], bax: int | None, out: str | None = None) -> None:
    """The output is ``x`` re-laid out to ``out_full`` (ONNX shape) with its batch at ``bax``."""
    out = node.output[0] if out is None else out
    bax = c.settle(node, out_full, bax)
    shape = c.drop_batch(tuple(out_full), bax)
    if shape == c.shape(x):
        c.alias_to(out, c.alias[x], bax)
        c.check(node, out)
        return
    c.emit(node, Reshape(shape), [x], out=out, bax=bax)


def _reshaped_bax(c, full_in, bax, full_out) -> int | None:
    """Where the batch is after a reshape: the axis of batch size with as many elements in front as before."""
    if bax is None:
        return None
    front = math.prod(full_in[:bax])
    for j, d in enumerate(full_out):
        size = math.prod(full_out[:j])
        if size == front and d == c.batch:
            return j
        if size > front:
            break
    return None


def _ints(c, node, index: int, what: str) -> list[int] | None:
    if len(node.input) <= index or not node.input[index]:
        return None
    if node.input[index] not in c.const:
        raise c.fail(node, f"{what} computed at run time (expected constant {what})")
    return [int(v) for v in np.asarray(c.const[node.input[index]]).reshape(-1)]


@handles("Reshape",
         becomes="`reshape` (or nothing when the per-sample shape is unchanged); the batch axis is tracked")
def reshape(c, node, attrs) -> None:
    x = node.input[0]
    full = c.full(x)
    target = _ints(c, node, 1, "target shape")
    if target is None:
        raise c.fail(node, "no target shape (expected one)")
    if not attrs.get("allowzero", 0):
        target = [full[i] if d == 0 and i < len(full) else d for i, d in enumerate(target)]
    if -1 in target:
        known = -math.prod(target)
        if known <= 0 or math.prod(full) % known:
            raise c.fail(node, f"target shape {target} cannot hold the input {full}")
        target = [math.prod(full) // known if d == -1 else d for d in target]
    if math.prod(target) != math.prod(full):
        raise c.fail(node, f"target shape {target} cannot hold the input {full} (expected the same element count)")
    _layout(c, node, x, tuple(target), _reshaped_bax(c, full, c.bax[x], target))


@handles("Flatten",
         becomes="`reshape`")
def flatten(c, node, attrs) -> None:
    x = node.input[0]
    full = c.full(x)
    axis = attrs.get("axis", 1) % max(len(full), 1)
    out = (math.prod(full[:axis]), math.prod(full[axis:]))
    if axis == 1 and c.bax[x] == 0 and len(full) > 2:  # flatten each sample, as the zoo's classifiers write it
        c.emit(node, Reshape((-1,)), [x], bax=0)
        return
    _layout(c, node, x, out, _reshaped_bax(c, full, c.bax[x], out))


@handles("Transpose",
         becomes="`reshape` (layout is not modelled), the batch axis may move")
def transpose(c, node, attrs) -> None:
    x = node.input[0]
    full = c.full(x)
    perm = list(attrs.get("perm", range(len(full) - 1, -1, -1)))
    bax = c.bax[x]
    _layout(c, node, x, tuple(full[p] for p in perm), None if bax is None else perm.index(bax))


@handles("Squeeze",
         becomes="`reshape`")
def squeeze(c, node, attrs) -> None:
    x = node.input[0]
    full = c.full(x)
    axes = attrs.get("axes") or _ints(c, node, 1, "axes")
    axes = sorted({a % len(full) for a in axes}) if axes else [i for i, d in enumerate(full) if d == 1]
    bax = c.bax[x]
    if bax is not None:
        bax = None if bax in axes else bax - sum(1 for a in axes if a < bax)
    _layout(c, node, x, tuple(d for i, d in enumerate(full) if i not in axes), bax)


@handles("Unsqueeze",
         becomes="`reshape`")
def unsqueeze(c, node, attrs) -> None:
    x = node.input[0]
    full = list(c.full(x))
    axes = attrs.get("axes") or _ints(c, node, 1, "axes")
    rank = len(full) + len(axes)
    axes = sorted(a % rank for a in axes)
    bax = c.bax[x]
    marked = [("x", d) for d in full]
    if bax is not None:
        marked[bax] = ("batch", full[bax])
    for a in axes:
        marked.insert(a, ("new", 1))
    out = tuple(d for _, d in marked)
    _layout(c, node, x, out, next((i for i, (k, _) in enumerate(marked) if k == "batch"), None))


@handles("Gather",
         becomes="`slice` (+ `reshape`) for a constant index or contiguous range")
def gather(c, node, attrs) -> None:
    """An index (or a contiguous range) on one axis: a Slice, then dropping the axis for a scalar index."""
    x = node.input[0]
    if node.input[1] not in c.const:
        raise c.fail(node, "indices computed at run time (expected constant indices: an embedding lookup is "
                           "not modelled)")
    full = c.full(x)
    axis = attrs.get("axis", 0) % len(full)
    index = np.asarray(c.const[node.input[1]])
    picks = [int(i) % full[axis] for i in index.reshape(-1)]
    if picks != list(range(picks[0], picks[0] + len(picks))):
        raise c.fail(node, f"indices {picks[:8]} (expected one index or a contiguous range)")
    bax = c.bax[x]
    if axis == bax:
        if full[axis] != 1 or index.ndim != 0:
            raise c.fail(node, f"axis {axis} is the batch axis (expected a per-sample axis)")
        _layout(c, node, x, full[:axis] + full[axis + 1:], None)
        return
    out_full = full[:axis] + tuple(index.shape) + full[axis + 1:]
    src = x
    if len(picks) != full[axis]:
        src = node.output[0] + "#slice"
        c.emit(node, Slice(c.sample_axis(node, x, axis), picks[0], picks[0] + len(picks)), [x], out=src,
               suffix=".slice", check=False)
    if bax is not None and index.ndim == 0 and axis < bax:
        bax -= 1
    _layout(c, node, src, out_full, bax)


@handles("Slice",
         becomes="`slice` per cut axis (any positive step)")
def slice_(c, node, attrs) -> None:
    x = node.input[0]
    full = c.full(x)
    starts, ends = _ints(c, node, 1, "starts"), _ints(c, node, 2, "ends")
    axes = _ints(c, node, 3, "axes") or list(range(len(starts)))
    steps = _ints(c, node, 4, "steps") or [1] * len(starts)
    if any(s < 1 for s in steps):
        raise c.fail(node, f"steps {steps} (expected positive steps: a reversed slice is not modelled)")
    src = x
    for n, (axis, start, end, step) in enumerate(zip(axes, starts, ends, steps)):
        axis %= len(full)
        size = full[axis]
        start, end = (max(0, min(size, v + size if v < 0 else v)) for v in (start, end))
        if (start, end, step) == (0, size, 1):
            continue
        if end <= start:
            raise c.fail(node, f"an empty slice {start}:{end} of axis {axis} (expected a non-empty one)")
        out = node.output[0] if n == len(axes) - 1 else f"{node.output[0]}#{n}"
        c.emit(node, Slice(c.sample_axis(node, src, axis), start, end, step), [src], out=out,
               suffix=f".{n}" if n else "", check=out == node.output[0])
        src = out
    if src == x:
        c.pass_through(node, "ignored: a Slice that keeps everything")
    elif src != node.output[0]:
        c.alias_to(node.output[0], c.alias[src], c.bax[src])


@handles("Split",
         becomes="one `slice` per output")
def split(c, node, attrs) -> None:
    x = node.input[0]
    full = c.full(x)
    axis = attrs.get("axis", 0) % len(full)
    sizes = attrs.get("split") or _ints(c, node, 1, "split sizes")
    outputs = [o for o in node.output]
    if not sizes:
        parts = attrs.get("num_outputs", len(outputs))
        chunk = -(-full[axis] // parts)
        sizes = [min(chunk, full[axis] - i * chunk) for i in range(parts)]
    start = 0
    for out, size in zip(outputs, sizes):
        if out:
            c.emit(node, Slice(c.sample_axis(node, x, axis), start, start + size), [x], out=out, suffix=f".{out}")
        start += size


@handles("Concat",
         becomes="`concat` of activations; a class token then a position-embedding Add: one `posembed`")
def concat(c, node, attrs) -> None:
    static = [i for i in node.input if i in c.const]
    acts = [i for i in node.input if i and i not in c.const]
    if static:
        _class_token(c, node, attrs, static, acts)
        return
    if len(acts) == 1:
        c.pass_through(node)
        return
    c.emit(node, Concat(c.sample_axis(node, acts[0], attrs["axis"])), acts)


def _class_token(c, node, attrs, static: list[str], acts: list[str]) -> None:
    """ViT's ``cat([class_token, x]) + pos_embedding``: one PosEmbed layer with the token and embedding as
    parameters."""
    add = c.single_user(node.output[0])
    ok = len(static) == 1 and len(acts) == 1 and node.input[0] == static[0] and add is not None
    if ok:
        x = acts[0]
        sample = c.shape(x)
        token = np.asarray(c.const[static[0]])
        pos = next((i for i in add.input if i != node.output[0]), "")
        ok = (add.op_type == "Add" and len(sample) == 2 and c.sample_axis(node, x, attrs["axis"]) == 0
              and token.size == sample[1] and pos in c.learned
              and c.const[pos].size == (sample[0] + 1) * sample[1])
    if not ok:
        raise c.fail(node, "concatenates a constant that is not a class token followed by a position embedding "
                           "(expected activations only)")
    c.patterns[id(add)] = None
    c.emit(node, PosEmbed(cls_token=True), [acts[0]], out=add.output[0])
    c.note("folded: a class token Concat and position-embedding Add, as one posembed layer")


@handles("Expand",
         becomes="nothing (an Expand that keeps the activation's shape)")
def expand(c, node, attrs) -> None:
    x = node.input[0]
    target = _ints(c, node, 1, "shape") or []
    full = c.full(x)
    out = tuple(np.broadcast_shapes(full, tuple(target)))
    if out != full:
        raise c.fail(node, f"expands an activation {full} to {out} (expected no growth)")
    c.pass_through(node, "ignored: an Expand that keeps the shape")


@handles("Identity",
         becomes="nothing")
def identity(c, node, attrs) -> None:
    c.pass_through(node)


@handles("Cast",
         becomes="nothing (noted)")
def cast(c, node, attrs) -> None:
    c.pass_through(node, "ignored: a Cast (element precision is the simulator's choice)")


@handles("Pad", becomes="nothing when it pads by zero (Swin's pad to whole windows at sizes that need none)")
def pad(c, node, attrs) -> None:
    pads = attrs.get("pads") or _ints(c, node, 1, "pads") or []
    if any(pads):
        raise c.fail(node, f"pads {pads} on an activation (expected zeros: padding an activation is not modelled "
                           "outside a Conv or pool)")
    c.pass_through(node, "ignored: a Pad by zero")
