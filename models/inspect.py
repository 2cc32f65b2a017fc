"""What hwsim built from a model file: the layer table (op, shapes, parameters, MACs) with totals and notes."""

from dataclasses import fields

from hwsim.models.graph import Graph
from hwsim.models.ops import Op

_SHOWN_DEFAULTS = {"kernel", "stride"}  # fields worth showing even at their defaults


def describe(op: Op) -> str:
    """The op kind and the fields that differ from their defaults, e.g. ``conv2d 64->128 k3x3 s2x2 p1x1``."""
    parts = [op.kind]
    for f in fields(op):
        value = getattr(op, f.name)
        if (f.name in ("in_channels", "in_features") or value is None
                or (value == f.default and f.name not in _SHOWN_DEFAULTS)):
            continue
        if f.name in ("out_channels", "out_features"):
            inner = getattr(op, "in_channels", getattr(op, "in_features", "?"))
            parts.append(f"{inner}->{value}")
        elif isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
            parts.append(f"{f.name}={'x'.join(map(str, value))}")
        elif isinstance(value, bool):
            parts.append(f.name.rstrip("_") if value else f"no-{f.name}")
        elif isinstance(value, str):
            parts.append(value)
        else:
            parts.append(f"{f.name}={value}")
    return " ".join(parts)


def layer_rows(graph: Graph) -> list[dict]:
    """One dict per layer: name, op, inputs, in_shapes, out_shape, params, macs (per sample)."""
    return [{"name": layer.name, "op": describe(layer.op), "kind": layer.op.kind, "inputs": list(layer.inputs),
             "in_shapes": [list(s) for s in layer.in_shapes], "out_shape": list(layer.out_shape),
             "params": layer.params, "macs": layer.macs} for layer in graph.layers]


def summary(graph: Graph) -> dict:
    """The graph as JSON-ready data: name, input shape, layers, totals and the importer's notes."""
    kinds: dict[str, int] = {}
    for layer in graph.layers:
        kinds[layer.op.kind] = kinds.get(layer.op.kind, 0) + 1
    return {"model": graph.name, "input_shape": list(graph.input_shape), "layers": layer_rows(graph),
            "totals": {"layers": len(graph.layers), "weighted_layers": len(graph.weighted_layers),
                       "params": graph.params, "macs": graph.macs, "by_kind": kinds},
            "notes": list(graph.notes)}


def table(graph: Graph) -> str:
    """The layer table as text, totals and notes below it."""
    data = summary(graph)
    rows = [("layer", "op", "input", "output", "params", "MACs")]
    for r in data["layers"]:
        shapes = ", ".join("x".join(map(str, s)) for s in r["in_shapes"])
        rows.append((r["name"], r["op"], shapes, "x".join(map(str, r["out_shape"])), f"{r['params']:,}",
                     f"{r['macs']:,}"))
    widths = [min(max(len(row[i]) for row in rows), 48) for i in range(6)]
    lines = [f"{data['model']}: input {'x'.join(map(str, graph.input_shape))} per sample"]
    for row in rows:
        cells = [c if len(c) <= w else "..." + c[len(c) - w + 3:] for c, w in zip(row, widths)]
        lines.append("  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    t = data["totals"]
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(t["by_kind"].items()))
    lines.append(f"total: {t['layers']} layers ({kinds}), {t['params']:,} params, {t['macs']:,} MACs per sample "
                 f"({t['macs'] / 1e9:.3f} GMACs)")
    lines += [f"note: {n}" for n in data["notes"]]
    return "\n".join(lines)
