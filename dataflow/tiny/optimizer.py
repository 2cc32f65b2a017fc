"""Batch > 1 by gradient accumulation, and momentum buffers: what they add to a training step's memory and work.

The reference trains one image at a time with plain SGD (batch 1, no momentum), and that stays the default.

- ``batch`` B > 1: the step runs B forward/backward passes, one image at a time (activations are as at batch
  1), and sums each weight and bias gradient into an accumulator that lives through the whole step; the
  optimizer applies the update once, after the last image. The fused in-place update of operator reordering
  is then impossible (a gradient is needed B times), so the step is the non-reordered graph with every
  weight/bias gradient buffer made persistent, and each gradient kernel reads and writes its accumulator.
  The op list is one image's passes plus the update; ``calls`` gives how often each op runs per step (B for
  forward and backward ops, 1 for updates), so per-image cost = sum(cost x calls) / B.
- ``momentum``: heavy-ball SGD keeps one velocity per trained parameter between steps (``<param>.mom``, kind
  ``optim``, at the weight-gradient precision), read and written by the parameter's update, which does two
  passes over its elements (velocity, then parameter).

The analytic extra memory (the paper's axis) is unchanged; the planned arena shows the added buffers.
"""
from __future__ import annotations

from dataclasses import replace

from hwsim.dataflow.tiny.graph import Precision, Tensor, TrainingGraph


def with_optimizer(tg: TrainingGraph, batch: int = 1, momentum: bool = False,
                   precision: Precision = Precision()) -> TrainingGraph:
    """``tg`` with gradient accumulators (``batch`` > 1; ``tg`` must be built with ``reorder=False``) and
    momentum buffers (``momentum``). Batch 1 without momentum returns ``tg`` itself."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch: {batch!r} (expected an integer >= 1)")
    if not isinstance(momentum, bool):
        raise ValueError(f"momentum: {momentum!r} (expected True or False)")
    if batch == 1 and not momentum:
        return tg
    if batch > 1 and tg.reorder:
        raise ValueError("batch: gradient accumulation needs the non-reordered graph (expected reorder=False: "
                         "an in-place update cannot wait for the last image)")
    tensors = {t.name: t for t in tg.tensors}
    ops = list(tg.ops)
    if batch > 1:
        for name, t in tensors.items():
            if t.kind == "wgrad":
                tensors[name] = replace(t, persistent=True)
        ops = [replace(op, reads=op.reads + tuple(w for w in op.writes if tensors[w].kind == "wgrad"
                                                  and w not in op.reads))
               if op.phase == "backward" else op for op in ops]
    if momentum:
        out = []
        for op in ops:
            if op.phase == "update":
                param = op.writes[0]
                mom = f"{param}.mom"
                tensors[mom] = Tensor(mom, op.elems * precision.wgrad, "optim", op.layer, persistent=True)
                op = replace(op, reads=op.reads + (mom,), writes=op.writes + (mom,), elems=2 * op.elems)
            out.append(op)
        ops = out
    return replace(tg, tensors=tuple(tensors.values()), ops=tuple(ops))


def calls_per_step(tg: TrainingGraph, batch: int) -> tuple[int, ...]:
    """How often each op of ``tg`` runs in one step of ``batch`` images."""
    return tuple(1 if op.phase == "update" else batch for op in tg.ops)


__all__ = ["calls_per_step", "with_optimizer"]
