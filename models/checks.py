"""Field validators: each returns the normalised value or raises a ModelError naming field and value."""

import math
import numbers
from collections.abc import Sequence

from hwsim.models.errors import ModelError, show

Shape = tuple[int, ...]

MAX_DIM = 1 << 20
"""Largest integer field of a workload (channels, features, a shape dim, kernel, stride, resolution, classes):
1,048,576, past any real layer yet far from int64 overflow once multiplied out."""
MAX_ELEMS = 1 << 32
"""Most elements of one tensor per sample (4,294,967,296: 8 GiB at fp16 for a single sample)."""


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(field: str, value: object, minimum: int | None = 1, maximum: int | None = MAX_DIM) -> int:
    """An int (not a bool, not a string) from ``minimum`` to ``maximum`` (no bound where None)."""
    if not _is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ModelError(f"{field}: {show(value)} (expected {_range(minimum, maximum)})")
    return int(value)


def _range(minimum: int | None, maximum: int | None) -> str:
    if minimum is None and maximum is None:
        return "an integer"
    if maximum is None:
        return {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
    if minimum is None:
        return f"an integer <= {maximum:,}"
    return f"an integer from {minimum:,} to {maximum:,}"


def pair(field: str, value: object, minimum: int = 1, maximum: int = MAX_DIM) -> tuple[int, int]:
    """An int ``v`` (meaning ``(v, v)``) or a sequence of two ints, each from ``minimum`` to ``maximum``."""
    items = (value, value) if _is_int(value) else value
    if (isinstance(items, Sequence) and not isinstance(items, str) and len(items) == 2
            and all(_is_int(v) and minimum <= v <= maximum for v in items)):
        return int(items[0]), int(items[1])
    raise ModelError(f"{field}: {show(value)} (expected {_range(minimum, maximum)} or a pair of them)")


def flag(field: str, value: object) -> bool:
    """A real bool (YAML true/false), not a truthy stand-in."""
    if not isinstance(value, bool):
        raise ModelError(f"{field}: {show(value)} (expected true or false)")
    return value


def choice(field: str, value: object, options: Sequence[str]) -> str:
    """One of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ModelError(f"{field}: {show(value)} (expected one of: {', '.join(options)})")
    return value


MAX_NAME = 200
"""Longest model or layer name, in characters."""


def name(field: str, value: object) -> str:
    """A non-empty, printable (no line breaks, no control characters) string of at most MAX_NAME characters."""
    if not isinstance(value, str) or not value.strip() or not value.isprintable() or len(value) > MAX_NAME:
        raise ModelError(f"{field}: {show(value)} (expected a non-empty printable one-line string of at most "
                         f"{MAX_NAME} characters)")
    return value


def shape(field: str, value: object, wildcard: bool = False) -> Shape:
    """A non-empty sequence of at most 8 ints from 1 to MAX_DIM, holding at most MAX_ELEMS elements; with
    ``wildcard``, one entry may be -1 (inferred)."""
    ok = isinstance(value, Sequence) and not isinstance(value, str) and 0 < len(value) <= 8
    ok = ok and all(_is_int(v) and (1 <= v <= MAX_DIM or (wildcard and v == -1)) for v in value)
    if not ok or (wildcard and list(value).count(-1) > 1):
        extra = " (one may be -1)" if wildcard else ""
        raise ModelError(f"{field}: {show(value)} (expected a list of 1 to 8 integers from 1 to {MAX_DIM:,}{extra})")
    elems = abs(math.prod(value))
    if elems > MAX_ELEMS:
        raise ModelError(f"{field}: {show(value)} holds {elems:,} elements per sample (expected at most "
                         f"{MAX_ELEMS:,})")
    return tuple(int(v) for v in value)
