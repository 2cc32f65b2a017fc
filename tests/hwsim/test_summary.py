"""The text table: every column defined, --top rows distinguishable, numbers formatted one way."""
import re

import pytest

import hwsim
from hwsim.cli import main
from hwsim.summary import _label, layer_groups, summary_text


@pytest.fixture(scope="module")
def vit():
    return hwsim.simulate("vit-b16", "sat-vcu1525", batch=2)


def table_rows(text: str) -> list[str]:
    """The layer rows: after the layer header, up to the '...' line or the legend."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["layer"]) + 1
    rows = []
    for line in lines[start:]:
        if line.startswith(("  ...", "  columns:")):
            break
        rows.append(line)
    return rows


def test_top_rows_are_distinct(vit):
    rows = table_rows(summary_text(vit, top=6))
    assert len(rows) == 6
    labels = [row.split()[0] for row in rows]
    assert len(set(labels)) == 6 and len(set(rows)) == 6
    assert labels[:2] == ["blocks.[0-11].mlp.fc1", "blocks.[0-10].mlp.fc2"]  # the last fc2 overlaps otherwise


def test_every_layer_column_is_defined(vit):
    text = summary_text(vit, top=3)
    header = next(line for line in text.splitlines() if line.split()[:1] == ["layer"]).split()
    legend = text[text.index("columns:"):]
    for column in header[1:]:
        if column == "DRAM":
            column = "DRAM MB"
        if column == "MB":
            continue
        assert f"{column} =" in legend or f"{column}," in legend, column
    assert "stall = " in legend


def test_groups_cover_every_layer_once(vit):
    groups = layer_groups(vit.ops)
    assert groups["count"].sum() == vit.ops["layer"].nunique()
    assert groups["total"].sum() == vit.cycles
    assert list(groups["total"]) == sorted(groups["total"], reverse=True)


def test_numbers_use_thousands_separators(vit):
    text = summary_text(vit, top=20)
    for number in re.findall(r"(?<![\w.,\[-])\d[\d,]*(?:\.\d+)?", text):
        digits = number.split(".")[0]
        assert len(digits) <= 3 or "," in digits, number


def test_labels():
    assert _label(["a.1.b"]) == "a.1.b"
    assert _label([f"blocks.{i}.fc1" for i in range(12)]) == "blocks.[0-11].fc1"
    assert _label(["l1.c1", "l3.c1"]) == "l[1,3].c1"
    assert _label([f"x{i}" for i in (1, 5, 9, 20)]) == "x[#]"


def test_cli_table_shows_the_legend(capsys):
    assert main(["simulate", "--model", "vit-b16", "--batch", "2", "--top", "6"]) == 0
    out = capsys.readouterr().out
    assert "stall = " in out and len(set(table_rows(out))) == 6
