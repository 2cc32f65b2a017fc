"""Issue 15, class 3: every reader is bounded by the same rules before parsing (file type, size, aliases, depth,
duplicate keys), and class 6's escaping rule; property tests over random nesting, aliasing and names."""
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.models import yamlsafe
from hwsim.models.yamlsafe import YAMLInputError

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi"))


def _reading():
    from hwsim.models import reading  # imported here, so the tests below also run on code without the module

    return reading


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(_reading().FileInputError, match="not a regular file"):
        _reading().read_bytes(fifo, 1000, "a .yaml file")
    assert time.monotonic() - t0 < 2


def test_a_link_to_a_device_is_refused(tmp_path):
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    with pytest.raises(_reading().FileInputError, match="not a regular file"):
        _reading().read_bytes(link, 1 << 30, "a .csv topology")


def test_size_is_checked_before_reading(tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.truncate(3 << 30)  # sparse: 3 GiB on paper, nothing on disk
    with pytest.raises(_reading().FileInputError, match="larger than 1,000 bytes"):
        _reading().read_bytes(big, 1000, "a .csv topology")


def test_duplicate_yaml_keys_are_refused():
    with pytest.raises(YAMLInputError, match="key 'rows' appears twice"):
        yamlsafe.load("array:\n  rows: 8\n  rows: 16\n")
    assert yamlsafe.load("a: 1\nb: {a: 2}\n") == {"a": 1, "b": {"a": 2}}  # same key, different mappings: fine
    assert yamlsafe.load("1: x\n'1': y\n") == {1: "x", "1": "y"}  # an int and a str key differ


def _nested(depth):
    return "[" * depth + "]" * depth


def _readers(tmp_path):
    """Every YAML reader a user can reach, each taking one document's text."""
    import hwsim
    from hwsim.config import load_arch, parse_set
    from hwsim.dataflow.tiny.scheme import parse_scheme
    from hwsim.ondevice.targets import load_target

    def file(text, name):
        path = tmp_path / name
        path.write_text(text)
        return path

    return {
        "scheme": lambda t: parse_scheme(file(t, "s.yaml"), 10, "m"),
        "target": lambda t: load_target(file(t, "t.yaml")),
        "arch": lambda t: load_arch(file(t, "a.yaml")),
        "sweep": lambda t: hwsim.sweep(file(t, "w.yaml")),
        "set": lambda t: load_arch("sat-small", [f"array.rows={t}"]),
        "set-parse": lambda t: parse_set(f"array.rows={t}"),
    }


@pytest.mark.parametrize("reader", ["scheme", "target", "arch", "sweep", "set-parse"])
@pytest.mark.parametrize("text, problem", [(BOMB.replace("\n", "\n") + "z: *i\n", "values once aliases"),
                                           ("&a [*a]", "refers to its own anchor"),
                                           ("x: " + _nested(200), "nested"),
                                           ("a: 1\na: 2\n", "appears twice")],
                         ids=["alias-bomb", "self-alias", "deep", "duplicate-key"])
def test_every_yaml_reader_is_bounded(tmp_path, reader, text, problem):
    from hwsim.dataflow.tiny import SchemeError
    from hwsim.errors import HwsimError

    if reader == "set-parse":
        text = "{" + text.replace("\n", ", ").strip(", ") + "}" if "\n" in text else text
        if len(text) > 1000:
            pytest.skip("a --set value over 1,000 characters is refused by length first")
    t0 = time.monotonic()
    with pytest.raises((HwsimError, SchemeError)) as info:
        _readers(tmp_path)[reader](text)
    assert time.monotonic() - t0 < 5
    assert "\n" not in str(info.value)
    assert problem in str(info.value) or "aliases" in str(info.value) or "nested" in str(info.value), info.value


def test_a_360_byte_alias_chain_in_a_set_value_is_refused_fast():
    from hwsim.config import parse_set
    from hwsim.errors import HwsimError

    value = "[" + ", ".join(["&a [x, x, x, x, x, x, x, x, x, x]"] + [
        f"&{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
        for p, c in zip("abcdefg", "bcdefgh")]) + "]"
    assert len(value) < 1000
    t0 = time.monotonic()
    with pytest.raises(HwsimError, match="aliases"):
        parse_set(f"array.rows={value}")
    assert time.monotonic() - t0 < 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(0, 300), fan=st.integers(1, 12), levels=st.integers(0, 9), dup=st.booleans())
def test_random_nesting_and_aliasing_never_escape_the_caps(tmp_path, depth, fan, levels, dup):
    """Any mix of nesting, alias fan-out and duplicate keys either loads within the caps or is one refusal."""
    lines = [f"l0: &l0 {_nested(depth)}"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * fan) + "]")
    if dup:
        lines.append("l0: again")
    text = "\n".join(lines) + "\n"
    t0 = time.monotonic()
    for reader in ("scheme", "target"):
        try:
            _readers(tmp_path)[reader](text)
        except Exception as exc:  # noqa: BLE001 - the assertion is on the kind and shape of the error
            assert isinstance(exc, ValueError), repr(exc)
            assert "\n" not in str(exc)
    assert time.monotonic() - t0 < 5


@given(st.text())
def test_escape_leaves_no_control_character(text):
    out = _reading().escape(text)
    assert out.isprintable()
    if text.isprintable():
        assert out == text


def test_escape_shows_a_forged_line_as_text():
    forged = "Relu\n\x1b]0;pwned\x07hwsim: ok\r"
    out = _reading().escape(forged)
    assert "\n" not in out and "\x1b" not in out and "\r" not in out
    assert out == "Relu\\n\\x1b]0;pwned\\x07hwsim: ok\\r"
