"""Accuracy-aware sparse update (Lin et al. 2022, Sec. 2.2): per-layer contributions, then the scheme that
maximizes their sum within an analytic memory budget.

Contributions are accuracy gains over fine-tuning the classifier alone:

- ``bias[k]``: updating the biases of the last ``k`` convs (and the classifier);
- ``weight[(i, r)]``: updating the first ``int(C x r)`` input channels of conv ``i``'s weights (and the
  classifier), conv indices in forward order as in schemes.

They come from a file (:func:`load_contributions`: YAML or CSV, measured anywhere, e.g. with the reference's
PyTorch scripts) or are measured with the numpy int8 + QAS trainer on a data set
(:func:`hwsim.ondevice.contribution.measure`). As in
the paper, a scheme's predicted gain is ``bias[k] + sum of weight[(i, r_i)]`` (contributions assumed additive),
and :func:`search` maximizes it under the budget: exhaustively when the candidates are few, else by an
evolutionary search (mutation and crossover over per-layer ratio choices, the fittest kept, seeded).

File formats. YAML::

    model: digits-cnn          # optional: checked against the model when given
    bias: {1: 0.010, 2: 0.018, 3: 0.020}          # bias-update depth -> accuracy gain
    weight: {2: {0.25: 0.004, 0.5: 0.006, 1: 0.009}, 1: {1: 0.003}}   # conv index -> {ratio: gain}

CSV, one row per measurement, header ``kind,layer,ratio,gain`` (``kind`` bias: ``layer`` is the depth and
``ratio`` empty; ``kind`` weight: ``layer`` the conv index, ``ratio`` in (0, 1]).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from hwsim.dataflow.tiny.graph import Precision, _Builder, int8_graph
from hwsim.dataflow.tiny.scheme import Scheme, SchemeError


class ContributionError(ValueError):
    """Contributions that do not parse or do not fit the model: one line, ``contributions: ... (expected ...)``."""

EXHAUSTIVE_LIMIT = 20_000  # candidates up to which the search enumerates them all


@dataclass(frozen=True)
class Contributions:
    """Accuracy gains of bias depths and of (conv, ratio) weight updates over the classifier alone."""

    bias: dict  # depth -> gain
    weight: dict  # (conv index, ratio) -> gain
    model: str | None = None
    baseline: float | None = None  # accuracy of the classifier alone, when measured here
    source: str = ""

    def __post_init__(self) -> None:
        for k, v in self.bias.items():
            if isinstance(k, bool) or not isinstance(k, int) or k < 1 or not _finite(v):
                raise ValueError(f"bias: depth {k!r} gain {v!r} (expected an integer depth >= 1 and a finite gain)")
        for (i, r), v in self.weight.items():
            if isinstance(i, bool) or not isinstance(i, int) or i < 0 or not _finite(r) or not 0 < r <= 1 \
                    or not _finite(v):
                raise ValueError(f"weight: conv {i!r} ratio {r!r} gain {v!r} (expected a conv index >= 0, a ratio "
                                 "in (0, 1] and a finite gain)")

    def check(self, n_convs: int, model: str) -> None:
        """ContributionError unless every depth and conv index fits a model with ``n_convs`` convs."""
        if self.model is not None and self.model != model:
            raise ContributionError(f"contributions: measured on {self.model!r}, not {model!r} (expected the model's own "
                             "contributions)")
        if bad := [k for k in self.bias if k > n_convs]:
            raise ContributionError(f"contributions: bias depth {bad[0]} exceeds the {n_convs} convs of {model} "
                             f"(expected 1..{n_convs})")
        if bad := [i for i, _ in self.weight if i >= n_convs]:
            raise ContributionError(f"contributions: weight layer {bad[0]} is out of range for the {n_convs} convs of "
                             f"{model} (expected 0..{n_convs - 1})")
        if not self.bias:
            raise ContributionError("contributions: no bias depth given (expected at least one bias entry: weights can "
                             "only be updated where backprop reaches)")

    def gain(self, scheme: Scheme) -> float:
        """Predicted accuracy gain of a scheme (additive, as in the paper)."""
        return float(self.bias.get(scheme.bias_depth, 0.0) + sum(
            self.weight.get((i, r), 0.0) for i, r in zip(scheme.weight_layers, scheme.ratios)))


def _finite(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def load_contributions(path: str | Path) -> Contributions:
    """Contributions from a YAML (``.yaml``/``.yml``) or CSV (``.csv``) file (formats in the module doc)."""
    from hwsim.models.reading import FileInputError, read_text

    path = Path(path)
    try:  # bounded like every reader: a regular file of at most 1 MiB
        text = read_text(path, 1 << 20, "a .yaml or .csv of contributions")
    except FileInputError as exc:
        raise ContributionError(f"contributions: {exc}") from None
    try:
        if path.suffix.lower() == ".csv":
            return _from_csv(text, str(path))
        if path.suffix.lower() in (".yaml", ".yml"):
            return _from_yaml(text, str(path))
    except ValueError as exc:
        raise ContributionError(f"contributions: {exc} in {str(path)!r}") from None
    raise ContributionError(f"contributions: {str(path)!r} (expected a .yaml, .yml or .csv file, or a data set "
                            ".npz)")


def _from_yaml(text: str, source: str) -> Contributions:
    from hwsim.models.yamlsafe import YAMLInputError, load

    try:  # bounded: aliases, depth, duplicate keys
        data = load(text)
    except YAMLInputError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(data, dict) or not set(data) <= {"model", "bias", "weight"}:
        raise ValueError(f"top-level {sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__} (expected a "
                         "mapping with bias, weight and optionally model)")
    bias, weight = data.get("bias") or {}, data.get("weight") or {}
    if not isinstance(bias, dict) or not isinstance(weight, dict):
        raise ValueError("bias / weight (expected mappings: depth -> gain, conv -> {ratio: gain})")
    pairs = {}
    for i, table in weight.items():
        if not isinstance(table, dict):
            raise ValueError(f"weight {i!r}: {table!r} (expected a mapping ratio -> gain)")
        pairs.update({(i, r): g for r, g in table.items()})
    model = data.get("model")
    return Contributions(dict(bias), pairs, None if model is None else str(model), source=source)


def _from_csv(text: str, source: str) -> Contributions:
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or [])
    if sorted(header) != ["gain", "kind", "layer", "ratio"]:
        raise ValueError(f"header {','.join(header)!r} (expected kind,layer,ratio,gain)")
    rows = list(reader)
    if not rows:
        raise ValueError("no rows after the header (expected one row per bias or weight contribution)")
    bias, weight = {}, {}
    for n, row in enumerate(rows, start=2):
        try:
            if None in row or None in row.values():  # a line with more or fewer fields than the header
                raise ValueError(f"a different number of fields than the header's {len(header)}")
            layer, gain = int(row["layer"]), float(row["gain"])
            if row["kind"] == "bias":
                bias[layer] = gain
            elif row["kind"] == "weight":
                weight[(layer, float(row["ratio"]))] = gain
            else:
                raise ValueError(f"kind {row['kind']!r}")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"line {n}: {exc} (expected kind bias|weight, an integer layer, a ratio for weights, "
                             "a number gain)") from None
    return Contributions(bias, weight, source=source)


def to_yaml(c: Contributions) -> str:
    """The YAML file format of ``c`` (what ``load_contributions`` reads back)."""
    weight: dict = {}
    for (i, r), g in sorted(c.weight.items()):
        weight.setdefault(i, {})[r] = round(float(g), 6)
    data = {"model": c.model, "bias": {k: round(float(v), 6) for k, v in sorted(c.bias.items())}, "weight": weight}
    return yaml.safe_dump({k: v for k, v in data.items() if v is not None}, sort_keys=False)


# searching


@dataclass(frozen=True)
class Choice:
    """The scheme the search picked, its predicted gain and analytic extra memory."""

    scheme: Scheme
    gain: float
    extra_kb: float
    evaluated: int
    method: str  # exhaustive | evolutionary


def search(graph, budget_kb: float, contributions: Contributions, precision: Precision = Precision(),
           seed: int = 0, generations: int = 60, population: int = 48,
           exhaustive_limit: int = EXHAUSTIVE_LIMIT) -> Choice:
    """The scheme maximizing the predicted gain with analytic extra memory <= ``budget_kb``."""
    if isinstance(budget_kb, bool) or not isinstance(budget_kb, (int, float)) or not math.isfinite(budget_kb) \
            or budget_kb <= 0:
        raise SchemeError(f"budget: {budget_kb!r} (expected a positive number of KB)")
    nodes = int8_graph(graph)
    n = sum(x.kind == "conv" for x in nodes)
    contributions.check(n, graph.name)
    depths = sorted(contributions.bias)
    layers = sorted({i for i, _ in contributions.weight})
    options = {i: [0.0] + sorted(r for j, r in contributions.weight if j == i) for i in layers}
    name = f"budget-{budget_kb:g}kb-acc"
    memo: dict = {}

    def evaluate(depth: int, ratios: tuple) -> tuple[float, float, Scheme] | None:
        """(gain, KB, scheme) of a genome, None if it breaks the budget or the depth rule."""
        key = (depth, ratios)
        if key not in memo:
            picked = [(i, r) for i, r in zip(layers, ratios) if r > 0]
            if any(i < n - depth for i, _ in picked):
                memo[key] = None
            else:
                scheme = Scheme(name, depth, tuple(i for i, _ in picked), tuple(r for _, r in picked))
                kb = _Builder(graph.name, nodes, scheme, True, precision).build(backward=False) \
                    .analytic_extra_bytes / 1024
                memo[key] = (contributions.gain(scheme), kb, scheme) if kb <= budget_kb else None
        return memo[key]

    def better(a, b) -> bool:  # higher gain, then less memory
        return b is None or (a is not None and (a[0], -a[1]) > (b[0], -b[1]))

    total = len(depths) * math.prod(len(o) for o in options.values())
    best = None
    if total <= exhaustive_limit:
        import itertools

        for depth in depths:
            for ratios in itertools.product(*(options[i] for i in layers)):
                if better(cand := evaluate(depth, ratios), best):
                    best = cand
        method = "exhaustive"
    else:
        best = _evolve(depths, layers, options, n, evaluate, better, seed, generations, population)
        method = "evolutionary"
    if best is None:
        raise SchemeError(f"budget: {budget_kb:g}KB is below the smallest scheme of {graph.name} with a measured "
                          "contribution (expected more room: even the shallowest bias depth needs its masks)")
    return Choice(best[2], best[0], best[1], len(memo), method)


def _evolve(depths, layers, options, n, evaluate, better, seed, generations, population):
    """Evolutionary search over genomes (depth index, one ratio index per layer): start from random valid
    genomes (weights only inside the depth), keep the best quarter each generation, refill by crossover of two
    kept parents and mutation of one gene. Infeasible genomes are dropped."""
    rng = np.random.default_rng(seed)

    def random_genome():
        d = int(rng.integers(len(depths)))
        return (d, tuple(int(rng.integers(len(options[i]))) if i >= n - depths[d] and rng.random() < 0.3 else 0
                         for i in layers))

    def decode(g):
        return evaluate(depths[g[0]], tuple(options[i][k] for i, k in zip(layers, g[1])))

    def mutate(g):
        d, genes = g[0], list(g[1])
        if rng.random() < 0.3:
            d = int(np.clip(d + rng.choice((-1, 1)), 0, len(depths) - 1))
        j = int(rng.integers(len(layers)))
        genes[j] = int(rng.integers(len(options[layers[j]])))
        return d, tuple(genes)

    pool = [g for g in (random_genome() for _ in range(population * 4)) if decode(g) is not None][:population]
    pool.append((0, (0,) * len(layers)))  # the shallowest bias-only scheme
    best = None
    for _ in range(generations):
        scored = sorted((g for g in set(pool) if decode(g) is not None),
                        key=lambda g: (decode(g)[0], -decode(g)[1]), reverse=True)
        if not scored:
            break
        if better(decode(scored[0]), best):
            best = decode(scored[0])
        keep = scored[: max(2, len(scored) // 4)]
        children, attempts = [], 0
        while len(children) < population - len(keep) and attempts < 20 * population:
            attempts += 1
            a, b = (keep[int(rng.integers(len(keep)))] for _ in range(2))
            genes = tuple(x if rng.random() < 0.5 else y for x, y in zip(a[1], b[1]))
            child = mutate((a[0] if rng.random() < 0.5 else b[0], genes))
            if decode(child) is not None:
                children.append(child)
            elif rng.random() < 0.2:
                children.append(random_genome())
        pool = keep + children
    return best
