"""Sparse-update schemes: spellings, the packaged reference schemes, and one-line errors."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.dataflow.tiny.scheme import Scheme, SchemeError, parse_scheme, published, published_names


def test_published_schemes_packaged_with_ratio_zero_dropped():
    assert len(published_names()) == 15
    s = parse_scheme("mcunet-5fps:49kb", 42, "mcunet-5fps")
    # reference: weight_layers [23, 24, 27, 30, 33, 39], ratios [0, 0.25, 0.5, 0.5, 0, 0]
    assert (s.bias_depth, s.weight_layers, s.ratios) == (20, (24, 27, 30), (0.25, 0.5, 0.5))
    assert parse_scheme("99kb", 42, "mcunet-5fps") == parse_scheme("mcunet-5fps:99kb", 42, "mcunet-5fps")


def test_named_schemes():
    assert parse_scheme("full", 5, "m") == Scheme("full", 5, (0, 1, 2, 3, 4), (1, 1, 1, 1, 1))
    assert parse_scheme("last-2", 5, "m") == Scheme("last-2", 2, (3, 4), (1.0, 1.0))
    assert parse_scheme("bias-only", 5, "m") == Scheme("bias-only", 5)
    assert parse_scheme("bias-only-3", 5, "m").weight_layers == ()


def test_yaml_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("bias_update_depth: 3\nweight_layers: [4, 2]\nratios: [0.5, 1]\n")
    s = parse_scheme(str(path), 5, "m")
    assert (s.name, s.bias_depth, s.weight_layers, s.ratios) == ("mine", 3, (2, 4), (1.0, 0.5))  # sorted by layer


@pytest.mark.parametrize("spec, message", [
    ("last-9", "asks for 9 convs but m has 5"),
    ("bias-only-6", "bias_update_depth: 6 exceeds the 5 convs of m"),
    ("mcunet-5fps:99kb", "indexes the convs of mcunet-5fps, not of m"),
    ("nope", "unknown scheme 'nope'"),
    (3, "expected full, last-K"),
])
def test_bad_spellings(spec, message):
    with pytest.raises(SchemeError, match=message):
        parse_scheme(spec, 5, "m")


@pytest.mark.parametrize("text, message", [
    ("bias_update_depth: 3\nweight_layers: [7]\nratios: [1]\n", "weight_layers: 7 is out of range"),
    ("bias_update_depth: 3\nweight_layers: [1]\nratios: [1]\n", "weight_layers: 1 lies below the bias-update depth"),
    ("bias_update_depth: 3\nweight_layers: [4]\nratios: [0]\n", r"ratios: 0 \(expected a fraction in \(0, 1\]"),
    ("bias_update_depth: 3\nweight_layers: [4]\nratios: [1.5]\n", "ratios: 1.5"),
    ("bias_update_depth: 9\n", "bias_update_depth: 9 exceeds the 5 convs"),
    ("bias_update_depth: 3\nweight_layers: [4, 3]\nratios: [1]\n", "ratios: 1 given for 2 weight_layers"),
    ("bias_update_depth: 3\nweight_layers: [4, 4]\nratios: [1, 1]\n", "repeats a layer"),
    ("bias_update_depth: -1\n", "bias_update_depth: -1"),
    ("depth: 3\n", "expected a mapping with bias_update_depth"),
    ("bias_update_depth: 3\nratio: [1]\n", "unknown field 'ratio'"),
    ("[: bad", "invalid YAML"),
])
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SchemeError, match=message):
        parse_scheme(path, 5, "m")


def test_every_message_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("bias_update_depth: 3\nweight_layers: [4]\nratios: [2]\n")
    with pytest.raises(SchemeError) as info:
        parse_scheme(path, 5, "m")
    assert "\n" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 60), data=st.data())
def test_valid_schemes_parse_and_invalid_ones_fail(n, data):
    """Property: any depth <= n with layers inside the last `depth` convs and ratios in (0, 1] parses (sorted,
    same pairs); moving one layer below the depth, or one ratio out of (0, 1], fails with SchemeError."""
    depth = data.draw(st.integers(0, n))
    layers = data.draw(st.lists(st.integers(n - depth, n - 1), unique=True, max_size=depth)) if depth else []
    ratios = data.draw(st.lists(st.floats(0.01, 1.0), min_size=len(layers), max_size=len(layers)))
    s = parse_scheme(Scheme("x", depth, tuple(layers), tuple(ratios)), n, "m")
    assert list(s.weight_layers) == sorted(layers)
    assert sorted(zip(s.weight_layers, s.ratios)) == sorted(zip(layers, ratios))
    if layers:
        bad_ratio = data.draw(st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0001)))
        with pytest.raises(SchemeError):
            Scheme("x", depth, tuple(layers), (bad_ratio, *ratios[1:]))
    if depth < n:
        with pytest.raises(SchemeError):
            parse_scheme(Scheme("x", depth, (n - depth - 1,), (1.0,)), n, "m")
    with pytest.raises(SchemeError):
        parse_scheme(Scheme("x", n + 1), n, "m")
