"""Checks on what users hand in (CLI arguments, API arguments, output paths) and safe ways to write outputs.

Every refusal names the field, the value and what was expected: a HwsimError (one line, exit 2 in the CLI)
for a bad value, a TypeError for an API argument of the wrong type.
"""
from __future__ import annotations

import argparse
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


def _path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used at all (NUL byte, over-long name, no permission...), or None."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    except ValueError as exc:  # a NUL byte
        return str(exc)
    return None


def output_file(path: str | os.PathLike, flag: str) -> Path:
    """Check, before any work, that a file can be written at ``path``; return it as a Path."""
    field = flag.lstrip("-")
    path = Path(path)
    shown = show(str(path), 80)
    problem = _path_problem(path)
    if problem:
        raise HwsimError(f"{field}: {shown}: {problem} (expected a writable file path)", flag)
    if path.is_dir():
        raise HwsimError(f"{field}: {shown} is a directory (expected a file path)", flag)
    if _is_special(path):  # /dev/stdout, a FIFO: written in place, so only it needs to be writable
        if not os.access(path, os.W_OK):
            raise HwsimError(f"{field}: {shown} is not writable (expected a writable file)", flag)
        return path
    parent = Path(os.path.realpath(path)).parent
    problem = _path_problem(parent)
    if problem or not parent.is_dir():
        raise HwsimError(f"{field}: folder {show(str(parent), 80)} {problem or 'does not exist'} "
                         "(expected an existing folder)", flag)
    if not os.access(parent, os.W_OK):
        raise HwsimError(f"{field}: folder {show(str(parent), 80)} is not writable (expected a writable folder)",
                         flag)
    return path


def atomic_write(path: str | os.PathLike, save: Callable[[Path], object], flag: str) -> None:
    """Call ``save(tmp)`` on a temporary file next to ``path``, then rename it over ``path``: readers never see a
    partial file, and a failure leaves nothing behind. OS errors become a HwsimError naming ``flag``."""
    path = Path(path)
    tmp = None
    try:
        if _is_special(path):  # a device or FIFO cannot be replaced by a rename: write to it directly
            save(path)
            return
        path = Path(os.path.realpath(path))  # through a symlink: replace its target, keep the link
        fd, name = tempfile.mkstemp(prefix=".hwsim-", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        save(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise HwsimError(f"{flag.lstrip('-')}: cannot write {show(str(path), 80)}: {exc.strerror or exc}",
                         flag) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _is_special(path: Path) -> bool:
    """An existing path that is neither a regular file nor a folder (a device such as /dev/stdout, a FIFO)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def staged_folder(out: str | os.PathLike, flag: str) -> Iterator[Path]:
    """Yield a fresh staging folder for files meant for ``out``; on success move them into ``out`` (created
    then, with its parents), on any error remove the staging folder: a failed run leaves nothing behind."""
    out = Path(out)
    field = flag.lstrip("-")
    problem = _path_problem(out)
    if problem:
        raise HwsimError(f"{field}: {show(str(out), 80)}: {problem} (expected a folder path)", flag)
    if out.exists() and not out.is_dir():
        raise HwsimError(f"{field}: {show(str(out), 80)} is a file (expected a folder)", flag)
    anchor = out.absolute()
    while not anchor.is_dir():  # the nearest existing ancestor: staging there keeps the final move a rename
        anchor = anchor.parent
    if not os.access(anchor, os.W_OK):
        raise HwsimError(f"{field}: cannot create files under {show(str(anchor), 80)}: not writable", flag)
    try:
        stage = Path(tempfile.mkdtemp(prefix=".hwsim-stage-", dir=anchor))
    except OSError as exc:
        raise HwsimError(f"{field}: cannot create a folder in {show(str(anchor), 80)}: {exc.strerror}",
                         flag) from None
    try:
        yield stage
        try:
            out.mkdir(parents=True, exist_ok=True)
            for item in sorted(stage.iterdir()):
                os.replace(item, out / item.name)
        except OSError as exc:
            raise HwsimError(f"{field}: cannot write into {show(str(out), 80)}: {exc.strerror or exc}",
                             flag) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)

