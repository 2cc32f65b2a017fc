"""Accuracy-aware sparse update: contribution files and the search that maximizes summed contribution under a
memory budget (hwsim.dataflow.tiny.contributions)."""
from pathlib import Path
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dataflow.tiny import Scheme, training_graph
from hwsim.dataflow.tiny.contributions import ContributionError, Contributions, load_contributions, search, to_yaml
from hwsim.dataflow.tiny.search import search_scheme
from hwsim.models import load, zoo

DIGITS = str(Path(__file__).resolve().parents[2] / "models/examples/digits-cnn.yaml")


def _kb(graph, scheme):
    return training_graph(graph, scheme).analytic_extra_bytes / 1024


def test_search_picks_the_best_sum_within_the_budget_hand_worked():
    """digits-cnn (3 convs). Gains: bias depth 1: 0.01, depth 3: 0.02; conv 2 at ratio 1: 0.05, conv 0 at
    ratio 1: 0.10 (conv 0 needs depth 3). Analytic memory of the candidates (training graph): depth 1 0.34KB,
    depth 3 0.53KB, depth 3 + conv 0 0.66KB, depth 1 + conv 2 2.84KB, depth 3 + convs 0 and 2 3.16KB."""
    g = load(DIGITS)
    c = Contributions({1: 0.01, 3: 0.02}, {(2, 1.0): 0.05, (0, 1.0): 0.10})
    assert _kb(g, Scheme("x", 3, (0,), (1.0,))) == pytest.approx(0.664, abs=1e-3)
    assert _kb(g, Scheme("x", 1, (2,), (1.0,))) == pytest.approx(2.844, abs=1e-3)
    cases = [(3.2, 3, (0, 2), 0.17), (3.0, 3, (0,), 0.12), (0.6, 3, (), 0.02), (0.4, 1, (), 0.01)]
    for budget, depth, layers, gain in cases:
        best = search(g, budget, c)
        assert (best.scheme.bias_depth, best.scheme.weight_layers) == (depth, layers), budget
        assert best.gain == pytest.approx(gain) and best.extra_kb <= budget
    with pytest.raises(Exception, match="below the smallest scheme"):
        search(g, 0.3, c)


def test_search_matches_brute_force_over_every_scheme():
    """Every (depth, ratio per layer) combination enumerated independently through training_graph."""
    g = load(DIGITS)
    c = Contributions({1: 0.003, 2: 0.001, 3: 0.004},
                      {(i, r): 0.001 * (i + 1) * r ** 0.5 for i in range(3) for r in (0.25, 0.5, 1.0)})
    for budget in (0.5, 1.0, 2.0, 3.0, 6.0):
        best = None
        for depth in (1, 2, 3):
            for ratios in itertools.product((0, 0.25, 0.5, 1.0), repeat=3):
                picked = [(i, r) for i, r in enumerate(ratios) if r]
                if any(i < 3 - depth for i, _ in picked):
                    continue
                s = Scheme("x", depth, tuple(i for i, _ in picked), tuple(r for _, r in picked))
                kb = _kb(g, s)
                if kb <= budget and (best is None or (c.gain(s), -kb) > (best[0], -best[1])):
                    best = (c.gain(s), kb)
        got = search(g, budget, c)
        assert (got.gain, got.extra_kb) == pytest.approx(best), budget


def test_evolutionary_search_finds_the_exhaustive_optimum():
    g = zoo.build("mcunet-5fps", 128, 10)
    c = Contributions({6: 0.01, 12: 0.02}, {(i, r): 0.004 * (42 - i) * r ** 0.7 for i in range(36, 41)
                                           for r in (0.25, 1.0)})
    exact = search(g, 60, c)
    evolved = search(g, 60, c, exhaustive_limit=0, seed=3)
    assert exact.method == "exhaustive" and evolved.method == "evolutionary"
    assert evolved.gain == pytest.approx(exact.gain) and evolved.extra_kb <= 60


def test_contributions_change_the_choice_against_parameter_count():
    """Parameter count picks the last layers; contributions that favour an earlier conv pick that one."""
    g = zoo.build("mcunet-5fps", 128, 10)
    by_params, _ = search_scheme(g, 100)
    c = Contributions({12: 0.01}, {(30, 0.5): 0.05, (41, 1.0): 0.001})
    choice = search(g, 100, c)
    assert 30 in choice.scheme.weight_layers and 30 not in by_params.weight_layers


def test_yaml_and_csv_files_round_trip(tmp_path):
    c = Contributions({1: 0.01, 3: -0.002}, {(2, 0.5): 0.03, (0, 1.0): 0.0}, "digits-cnn")
    (tmp_path / "c.yaml").write_text(to_yaml(c))
    back = load_contributions(tmp_path / "c.yaml")
    assert back.bias == c.bias and back.weight == c.weight and back.model == "digits-cnn"
    (tmp_path / "c.csv").write_text("kind,layer,ratio,gain\nbias,1,,0.01\nbias,3,,-0.002\nweight,2,0.5,0.03\n"
                                    "weight,0,1,0\n")
    back = load_contributions(tmp_path / "c.csv")
    assert back.bias == c.bias and back.weight == c.weight


@pytest.mark.parametrize("name,text,match", [
    ("c.csv", "kind,layer,gain\nbias,1,0.1\n", "expected kind,layer,ratio,gain"),
    ("c.csv", "kind,layer,ratio,gain\nbias,x,,0.1\n", "line 2"),
    ("c.csv", "kind,layer,ratio,gain\nweight,1,1.5,0.1\n", "ratio 1.5"),
    ("c.yaml", "bias: [1, 2]\n", "expected mappings"),
    ("c.yaml", "bias: {0: 0.1}\n", "depth 0"),
    ("c.yaml", "bias: {1: .nan}\n", "finite gain"),
    ("c.yaml", "biases: {1: 0.1}\n", "top-level"),
    ("c.yaml", "bias: {1: 0.1}\nweight: {2: 0.1}\n", "expected a mapping ratio -> gain"),
    ("c.txt", "", "expected a .yaml, .yml or .csv"),
])
def test_bad_files_name_the_problem(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(ContributionError, match=match):
        load_contributions(tmp_path / name)


def test_contributions_must_fit_the_model():
    g = load(DIGITS)
    for c, match in ((Contributions({4: 0.1}, {}), "exceeds the 3 convs"),
                     (Contributions({1: 0.1}, {(3, 1.0): 0.1}), "out of range"),
                     (Contributions({}, {(2, 1.0): 0.1}), "no bias depth"),
                     (Contributions({1: 0.1}, {}, model="mcunet-5fps"), "not 'digits-cnn'")):
        with pytest.raises(ContributionError, match=match):
            search(g, 10, c)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=200))
def test_csv_parser_never_crashes(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("c") / "c.csv"
    path.write_text(text, encoding="utf-8")
    try:
        load_contributions(path)
    except ContributionError:
        pass
