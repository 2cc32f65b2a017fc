"""Functions exporters spell out over several nodes, recognized before the walk and converted as one layer:

- GELU, erf form: ``x * 0.5 * (1 + erf(x / sqrt(2)))`` (Div or Mul by the constant, the 0.5 on either side);
- SiLU: ``x * sigmoid(x)``; HardSwish: ``x * hardsigmoid(x)``;
- LayerNorm over the last axis: ``(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps)``, then optionally a
  learned scale (Mul) and shift (Add).

``find_patterns`` maps each node of a match to None (skipped) except its last node, which maps to the function
that adds the layer; the input ``x`` is produced before the match starts, so the walk order stays valid.
"""

import math

import numpy as np

from hwsim.models.ops import Activation, Norm


def find_patterns(c) -> dict:
    producer = {o: n for n in c.g.node for o in n.output if o}
    found: dict = {}
    for node in c.g.node:
        match = None
        if node.op_type == "Erf":
            match = _gelu(c, producer, node)
        elif node.op_type in ("Sigmoid", "HardSigmoid"):
            match = _gated(c, node)
        elif node.op_type == "ReduceMean":
            match = _layer_norm(c, node)
        if match and not any(id(n) in found for n in match[0]):
            nodes, last, emit = match
            found.update({id(n): None for n in nodes})
            found[id(last)] = emit
    return found


def _scalar(c, name: str) -> float | None:
    value = c.const.get(name)
    return float(value.reshape(())) if value is not None and value.size == 1 else None


def _other(node, name: str) -> str | None:
    rest = [i for i in node.input if i != name]
    return rest[0] if len(rest) == 1 else None


def _near(value: float | None, target: float) -> bool:
    return value is not None and math.isclose(value, target, rel_tol=1e-3)


def _act(fn: str, x: str):
    def emit(c, node) -> None:
        c.emit(node, Activation(fn), [x])
        c.note(f"folded: {fn} spelled out over several nodes, as one activation")
    return emit


def _gelu(c, producer: dict, erf):
    scaled = producer.get(erf.input[0])
    if scaled is None or scaled.op_type not in ("Div", "Mul") or c.single_user(scaled.output[0]) is not erf:
        return None
    x = scaled.input[0]
    k = _scalar(c, scaled.input[1])
    if not (_near(k, math.sqrt(2)) if scaled.op_type == "Div" else _near(k, 1 / math.sqrt(2))):
        return None
    plus = c.single_user(erf.output[0])
    if plus is None or plus.op_type != "Add" or not _near(_scalar(c, _other(plus, erf.output[0]) or ""), 1.0):
        return None
    mul = c.single_user(plus.output[0])
    if mul is None or mul.op_type != "Mul":
        return None
    y = _other(mul, plus.output[0])
    if y == x:  # x * (1 + erf) then * 0.5
        half = c.single_user(mul.output[0])
        if half is None or half.op_type != "Mul" or not _near(_scalar(c, _other(half, mul.output[0]) or ""), 0.5):
            return None
        return [scaled, erf, plus, mul], half, _act("gelu", x)
    halved = producer.get(y)  # (x * 0.5) * (1 + erf)
    if (halved is None or halved.op_type != "Mul" or x not in halved.input
            or not _near(_scalar(c, _other(halved, x) or ""), 0.5) or c.single_user(y) is not mul):
        return None
    return [scaled, erf, plus, halved], mul, _act("gelu", x)


def _gated(c, gate):
    mul = c.single_user(gate.output[0])
    x = gate.input[0]
    if mul is None or mul.op_type != "Mul" or _other(mul, gate.output[0]) != x:
        return None
    if gate.op_type == "HardSigmoid":
        attrs = c.attrs(gate)
        if not (_near(attrs.get("alpha", 0.2), 1 / 6) and _near(attrs.get("beta", 0.5), 0.5)):
            return None
    return [gate], mul, _act("silu" if gate.op_type == "Sigmoid" else "hswish", x)


def _last_axis(c, node) -> bool:
    axes = c.attrs(node).get("axes")
    if axes is None and len(node.input) > 1:
        axes = c.const.get(node.input[1])
    return axes is not None and list(np.asarray(axes).reshape(-1)) == [-1] and c.attrs(node).get("keepdims", 1)


def _layer_norm(c, mean):
    """mean -> Sub -> Pow 2 -> mean -> Add eps -> Sqrt -> Div [-> Mul g] [-> Add b]."""
    x = mean.input[0]
    if not _last_axis(c, mean):
        return None
    subs = [u for u in c.users.get(mean.output[0], []) if u.op_type == "Sub" and u.input[0] == x]
    if len(subs) != 1 or len(c.users.get(mean.output[0], [])) != 1:
        return None
    sub = subs[0]
    d = sub.output[0]
    users = c.users.get(d, [])
    pow_ = next((u for u in users if u.op_type == "Pow" and _near(_scalar(c, u.input[1]), 2.0)), None)
    div = next((u for u in users if u.op_type == "Div" and u.input[0] == d), None)
    if pow_ is None or div is None or len(users) != 2:
        return None
    var = c.single_user(pow_.output[0])
    if var is None or var.op_type != "ReduceMean" or not _last_axis(c, var):
        return None
    eps = c.single_user(var.output[0])
    if eps is None or eps.op_type != "Add" or _scalar(c, _other(eps, var.output[0]) or "") is None:
        return None
    sqrt = c.single_user(eps.output[0])
    if sqrt is None or sqrt.op_type != "Sqrt" or c.single_user(sqrt.output[0]) is not div:
        return None
    nodes, last = [mean, sub, pow_, var, eps, sqrt], div
    for op_type in ("Mul", "Add"):  # the learned scale, then shift
        nxt = c.single_user(last.output[0])
        if nxt is None or nxt.op_type != op_type or (_other(nxt, last.output[0]) or "") not in c.learned:
            break
        nodes.append(last)
        last = nxt

    def emit(c, node) -> None:
        c.emit(node, Norm("layer"), [x])
        c.note("folded: LayerNorm spelled out over several nodes, as one norm layer")

    return nodes, last, emit
