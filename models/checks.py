"""Field validators: each returns the normalised value or raises a ModelError naming field and value."""

import numbers
from collections.abc import Sequence

from hwsim.models.errors import ModelError, show

Shape = tuple[int, ...]


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(field: str, value: object, minimum: int | None = 1) -> int:
    """An int (not a bool) of at least ``minimum`` (no bound if None)."""
    if not _is_int(value) or (minimum is not None and value < minimum):
        bound = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise ModelError(f"{field}: {show(value)} (expected {bound})")
    return int(value)


def pair(field: str, value: object, minimum: int = 1) -> tuple[int, int]:
    """An int ``v`` (meaning ``(v, v)``) or a sequence of two ints, each at least ``minimum``."""
    items = (value, value) if _is_int(value) else value
    if (isinstance(items, Sequence) and not isinstance(items, str) and len(items) == 2
            and all(_is_int(v) and v >= minimum for v in items)):
        return int(items[0]), int(items[1])
    raise ModelError(f"{field}: {show(value)} (expected an integer >= {minimum} or a pair of them)")


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


def name(field: str, value: object) -> str:
    """A non-empty, single-line string."""
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        raise ModelError(f"{field}: {show(value)} (expected a non-empty one-line string)")
    return value


def shape(field: str, value: object, wildcard: bool = False) -> Shape:
    """A non-empty sequence of positive ints; with ``wildcard``, one entry may be -1 (inferred)."""
    ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
    ok = ok and all(_is_int(v) and (v >= 1 or (wildcard and v == -1)) for v in value)
    if not ok or (wildcard and list(value).count(-1) > 1):
        extra = " (one may be -1)" if wildcard else ""
        raise ModelError(f"{field}: {show(value)} (expected a non-empty list of positive integers{extra})")
    return tuple(int(v) for v in value)
