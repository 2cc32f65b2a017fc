"""The bounded YAML loader: alias bombs, self-references, deep nesting, size and OS errors are one-line errors."""
import os
import time

import pytest

from hwsim import models
from hwsim.models import yamlsafe
from hwsim.models.yamlsafe import YAMLInputError


def bomb(levels: int = 9) -> str:
    """A billion-laughs document: each level is ten aliases of the one before (10^levels values)."""
    names = "abcdefghijklmnop"
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip(names, names[1:levels]):
        lines.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_plain_documents_load_like_safe_load():
    assert yamlsafe.load("a: [1, 2, {b: c}]\nd: &x 3\ne: *x\n") == {"a": [1, 2, {"b": "c"}], "d": 3, "e": 3}
    assert yamlsafe.load("") is None
    assert yamlsafe.load(b"- 1\n") == [1]


def test_alias_bomb_is_refused_before_expansion():
    start = time.perf_counter()
    with pytest.raises(YAMLInputError, match=r"^YAML document: more than 150,000 values once aliases are expanded"):
        yamlsafe.load(bomb())
    assert time.perf_counter() - start < 1.0
    assert len(yamlsafe.load(bomb(3))["c"]) == 10  # small alias use is fine


@pytest.mark.parametrize("text", ["&a [*a]", "&a {k: *a}", "a: &a\n  b: [1, *a]\n"])
def test_self_referencing_anchor_is_refused(text):
    with pytest.raises(YAMLInputError, match="refers to its own anchor"):
        yamlsafe.load(text)


@pytest.mark.parametrize("text", ["[" * 100 + "]" * 100, "[" * 100_000 + "]" * 100_000,
                                  "a:\n" + "".join(" " * (i + 1) + "a:\n" for i in range(100))])
def test_deep_nesting_is_one_line(text):
    with pytest.raises(YAMLInputError) as info:
        yamlsafe.load(text)
    assert "\n" not in str(info.value) and ("nest" in str(info.value) or "depth" in str(info.value))


@pytest.mark.parametrize("text, match", [
    ("x: " + "9" * 5000, "invalid YAML: "), ("x: 2024-13-01", "month must be in 1..12"),
    ("? [a]\n: 1\n", "unhashable key"), ("a\x00b", "NUL byte"), ("!!python/object:os.system x", "constructor"),
    (b"\xff\xfe\x00", "not UTF-8 text"), ("x: [1,\n", "invalid YAML at line"),
])
def test_bad_documents_are_one_line(text, match):
    with pytest.raises(YAMLInputError, match=match) as info:
        yamlsafe.load(text)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_size_cap_reads_no_more_than_needed(tmp_path):
    with pytest.raises(YAMLInputError, match=r"YAML document: 101 bytes \(expected at most 100\)"):
        yamlsafe.load("a" * 101, max_bytes=100)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * yamlsafe.MAX_BYTES + "\n")
    with pytest.raises(YAMLInputError, match=r"big.yaml: larger than 524,288 bytes"):
        yamlsafe.load_file(big)


def test_os_errors_on_the_path_are_one_line(tmp_path):
    cases = [(tmp_path / ("n" * 300 + ".yaml"), r"cannot be read \(File name too long\)"),
             (tmp_path, "is a directory"), (tmp_path / "missing.yaml", "not found"), ("a\x00b.yaml", "cannot be read")]
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.yaml"
        locked.write_text("a: 1\n")
        locked.chmod(0)
        cases.append((locked, "Permission denied"))
    for path, match in cases:
        with pytest.raises(YAMLInputError, match=match) as info:
            yamlsafe.load_file(path)
        assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_model_files_use_the_bounded_loader(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text("input: [3, 8, 8]\nlayers: [{op: relu}]\n" + bomb())
    with pytest.raises(models.ModelError, match=r"^model file .*bomb.yaml: YAML document: more than 150,000"):
        models.load(path)
    long_name = tmp_path / ("m" * 300 + ".yaml")
    with pytest.raises(models.ModelError, match=r"^model file .*\.\.\.m+\.yaml: cannot be read \(File name too long\)"):
        models.load(long_name)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(YAMLInputError, match="not a regular file"):
        yamlsafe.load_file(fifo)
