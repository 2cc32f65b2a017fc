"""``--budget``: the sparse-update scheme that updates the most parameters within an analytic memory budget.

The budget is on the analytic extra memory (saved activations + masks + trainable copies), the axis by which
the reference names its schemes (``99kb`` ...). Candidates, a small structured grid: bias depth d of 1, 2, 3
or a multiple of a tenth of the conv count; weights of the last k (0..8) non-depthwise convs inside that depth,
all at one ratio (1/8, 1/4, 1/2, 1). Depthwise weights are few and their saved inputs large, so the grid leaves
them frozen. Ties go to the smaller memory. Not an optimum over all schemes: a quick, stated heuristic.
"""
from __future__ import annotations

import math

from hwsim.dataflow.tiny.graph import Precision, _Builder, int8_graph
from hwsim.dataflow.tiny.scheme import Scheme, SchemeError

RATIOS = (0.125, 0.25, 0.5, 1.0)
MAX_WEIGHT_LAYERS = 8


def search_scheme(graph, budget_kb: float, precision: Precision = Precision()) -> tuple[Scheme, float]:
    """(scheme, its analytic extra KB): the most trained parameters with analytic extra memory <= budget."""
    if isinstance(budget_kb, bool) or not isinstance(budget_kb, (int, float)) or not math.isfinite(budget_kb) \
            or budget_kb <= 0:
        raise SchemeError(f"budget: {budget_kb!r} (expected a positive number of KB)")
    nodes = int8_graph(graph)
    convs = [n for n in nodes if n.kind == "conv"]
    n = len(convs)
    best: tuple[int, float, Scheme] | None = None
    for depth in sorted({1, 2, 3} & set(range(1, n + 1)) | {max(1, round(n * f / 10)) for f in range(1, 11)}):
        eligible = [c.conv for c in convs[n - depth:] if not c.depthwise]
        for k in range(min(MAX_WEIGHT_LAYERS, len(eligible)) + 1):
            layers = tuple(eligible[len(eligible) - k:])
            for ratio in RATIOS if k else (1.0,):
                scheme = Scheme(f"budget-{budget_kb:g}kb", depth, layers, (ratio,) * k)
                scheme.check(n, graph.name)
                tg = _Builder(graph.name, nodes, scheme, True, precision).build(backward=False)
                kb = tg.analytic_extra_bytes / 1024
                if kb <= budget_kb and (best is None or (tg.trained_params, -kb) > (best[0], -best[1])):
                    best = (tg.trained_params, kb, scheme)
    if best is None:
        raise SchemeError(f"budget: {budget_kb:g}KB is below the smallest scheme of {graph.name} "
                          "(expected more room: even the last conv's bias needs its saved masks)")
    return best[2], best[1]
