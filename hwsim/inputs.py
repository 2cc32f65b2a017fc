"""Checks on what users hand in (CLI arguments, API arguments); outputs are written by hwsim.outputs.

Every refusal names the field, the value and what was expected: a HwsimError (one line, exit 2 in the CLI)
for a bad value, a TypeError for an API argument of the wrong type.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

from hwsim.errors import HwsimError

MAX_BATCH = 65_536
"""Largest batch: the biggest published large-batch training runs use 64k samples per step."""
MAX_DIM = 1 << 20
"""Largest resolution or class count: hwsim.models.checks.MAX_DIM, repeated so the CLI starts without loading
the model zoo (tests/hwsim/test_bad_input.py checks they agree)."""
MAX_PATCHES = 64
"""Largest patch grid of `hwsim tiny` (MCUNetV2 uses 2x2 to 4x4; at 64x64 a 224-pixel input has 3-pixel patches)."""
MAX_TOP = 100_000
"""Most rows of the table view."""
MAX_INT_DIGITS = 12
"""Longest integer accepted on the command line (anything longer is out of every bound here)."""


def show(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages about garbage input."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def int_arg(field: str, minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse ``type=`` that accepts a plain decimal integer from ``minimum`` to ``maximum`` (argparse puts
    the flag in front of the message)."""

    def parse(text: str) -> int:
        digits = text.strip()
        body = digits[1:] if digits[:1] in "+-" else digits
        if not (body.isdigit() and body.isascii()) or len(body) > MAX_INT_DIGITS:
            raise argparse.ArgumentTypeError(f"{show(text)} (expected an integer from {minimum:,} to {maximum:,})")
        value = int(digits)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} (expected an integer from {minimum:,} to {maximum:,})")
        return value

    parse.__name__ = field  # argparse names the type in its own messages
    return parse


def check_int(name: str, value: object, minimum: int, maximum: int, where: str = "") -> int:
    """An API integer argument: TypeError unless an int (not a bool), HwsimError outside the bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: {show(value)} is a {type(value).__name__} (expected an int)")
    if not minimum <= value <= maximum:
        raise HwsimError(f"{name}: {value} (expected an integer from {minimum:,} to {maximum:,})",
                         where or f"{name}=")
    return value


def check_bool(name: str, value: object) -> bool:
    """An API flag: a real bool, not a truthy stand-in such as ``"no"`` or ``None``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: {show(value)} is a {type(value).__name__} (expected True or False)")
    return value


def check_type(name: str, value: object, types: tuple[type, ...], expected: str) -> object:
    """TypeError naming ``name`` unless ``value`` is one of ``types``."""
    if not isinstance(value, types) or isinstance(value, bool):
        raise TypeError(f"{name}: {show(value)} is a {type(value).__name__} (expected {expected})")
    return value


# The output writers live in hwsim.outputs; these names stay importable from here.
from hwsim.outputs import atomic_write, output_file, staged_folder  # noqa: E402,F401
