"""The one way every command writes its outputs: checked before any work, never onto an input, all or nothing.

- ``output_file`` / ``output_folder`` check a destination before the work starts: its folder exists and is
  writable, no path component is a file, an existing target is writable (a read-only file is refused, not
  replaced), and it is none of the command's inputs (same file, also through symlinks or hard links).
- ``atomic_write`` writes a file through a temporary file created in the destination folder with an
  unpredictable name (``tempfile.mkstemp``: ``O_EXCL``, so a planted symlink is never followed), then renames
  it over the target: readers never see a partial file, and a failure leaves nothing behind.
- ``staged_folder`` collects a command's files in a fresh staging folder and moves them into place only when
  the whole run succeeded, after checking every destination first.
- ``open_append`` opens a stream (a sweep's ``OUT.part``) without following a symlink planted at its name.

Every refusal is a HwsimError naming the flag (one line, exit 2 in the CLI).
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from hwsim.errors import HwsimError
from hwsim.models.reading import show_path


def input_paths(*values: object) -> list[Path]:
    """The arguments among ``values`` that name existing files (model, arch, spec files...): what no output
    may overwrite. Zoo and preset names, objects and None are skipped."""
    out = []
    for value in values:
        if isinstance(value, (str, os.PathLike)):
            try:
                if os.path.isfile(value):
                    out.append(Path(value))
            except (OSError, ValueError, TypeError):
                continue
    return out


def output_file(path: str | os.PathLike, flag: str, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check, before any work, that a file can be written at ``path`` without touching an input; return it."""
    field = flag.lstrip("-")
    path = Path(path)
    shown = show_path(path)
    problem = _path_problem(path)
    if problem:
        raise HwsimError(f"{field}: {shown}: {problem} (expected a writable file path)", flag)
    if path.is_dir():
        raise HwsimError(f"{field}: {shown} is a directory (expected a file path)", flag)
    _refuse_inputs(path, flag, inputs)
    if _is_special(path):  # /dev/stdout, a FIFO: written in place, so only it needs to be writable
        if not os.access(path, os.W_OK):
            raise HwsimError(f"{field}: {shown} is not writable (expected a writable file)", flag)
        return path
    parent = Path(os.path.realpath(path)).parent
    problem = _path_problem(parent)
    if problem or not parent.is_dir():
        _refuse_file_ancestor(path, flag)
        raise HwsimError(f"{field}: folder {show_path(parent)} {problem or 'does not exist'} "
                         "(expected an existing folder)", flag)
    if not os.access(parent, os.W_OK):
        raise HwsimError(f"{field}: folder {show_path(parent)} is not writable (expected a writable folder)", flag)
    _refuse_read_only(path, flag)
    return path


def output_folder(out: str | os.PathLike, flag: str, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check, before any work, that files can be created in the folder ``out`` (made if missing); return the
    nearest existing ancestor, where staging happens."""
    out = Path(out)
    field = flag.lstrip("-")
    problem = _path_problem(out)
    if problem:
        raise HwsimError(f"{field}: {show_path(out)}: {problem} (expected a folder path)", flag)
    _refuse_file_ancestor(out, flag)
    if out.exists() and not out.is_dir():
        raise HwsimError(f"{field}: {show_path(out)} is a file (expected a folder)", flag)
    for item in map(Path, inputs):
        if _same(out, item):
            raise HwsimError(f"{field}: {show_path(out)} is the input {show_path(item)} (expected a folder)", flag)
    anchor = out.absolute()
    while not anchor.is_dir():  # the nearest existing ancestor: staging there keeps the final move a rename
        anchor = anchor.parent
    if not os.access(anchor, os.W_OK):
        raise HwsimError(f"{field}: cannot create files under {show_path(anchor)}: not writable", flag)
    return anchor


def atomic_write(path: str | os.PathLike, save: Callable[[Path], object], flag: str,
                 inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Call ``save(tmp)`` on a fresh temporary file next to ``path``, then rename it over ``path``. A symlink
    named by the user keeps pointing at its target, which gets the new content. OS errors become a HwsimError
    naming ``flag``; nothing is left behind on any failure."""
    path = Path(path)
    _refuse_inputs(path, flag, inputs)
    tmp = None
    try:
        if _is_special(path):  # a device or FIFO cannot be replaced by a rename: write to it directly
            save(path)
            return
        path = Path(os.path.realpath(path))  # through a symlink: replace its target, keep the link
        _refuse_read_only(path, flag)
        fd, name = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        save(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise HwsimError(f"{flag.lstrip('-')}: cannot write {show_path(path)}: {exc.strerror or exc}",
                         flag) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def open_append(path: str | os.PathLike, flag: str) -> IO[str]:
    """``path`` opened for appending text, created if missing; a symlink at ``path`` is refused, not followed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        raise HwsimError(f"{flag.lstrip('-')}: cannot write {show_path(path)}: {exc.strerror or exc} (expected a "
                         "regular file, not a link)", flag) from None
    return os.fdopen(fd, "a", encoding="utf-8")


@contextmanager
def staged_folder(out: str | os.PathLike, flag: str, inputs: Iterable[str | os.PathLike] = (),
                  keep: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a fresh staging folder for files meant for ``out``; on success move them (subfolders too) into
    ``out``, created then with its parents, after checking every destination (not a folder where a file goes,
    not read-only, not an input); on any error remove the staging folder: a failed run leaves nothing behind.
    ``keep``: relative paths in the stage that are inputs copied there, not outputs (never moved)."""
    out = Path(out)
    field = flag.lstrip("-")
    inputs = list(inputs)
    anchor = output_folder(out, flag, inputs)
    try:
        stage = Path(tempfile.mkdtemp(prefix=".hwsim-stage-", dir=anchor))
    except OSError as exc:
        raise HwsimError(f"{field}: cannot create a folder in {show_path(anchor)}: {exc.strerror}", flag) from None
    try:
        yield stage
        keep = set(keep)
        files = sorted(p.relative_to(stage) for p in stage.rglob("*")
                       if not p.is_dir() and str(p.relative_to(stage)) not in keep)
        for rel in files:  # every destination checked before the first move
            dest = out / rel
            if dest.is_dir() and not dest.is_symlink():
                raise HwsimError(f"{field}: {show_path(dest)} is a folder (expected a file there)", flag)
            _refuse_file_ancestor(dest.parent, flag)
            _refuse_read_only(dest, flag)
            _refuse_inputs(dest, flag, inputs)
        try:
            for rel in files:
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / rel, out / rel)
        except OSError as exc:
            raise HwsimError(f"{field}: cannot write into {show_path(out)}: {exc.strerror or exc}", flag) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name the same file: same inode when both exist (hard and soft links included), else
    the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        try:
            return os.path.realpath(a) == os.path.realpath(b)
        except (OSError, ValueError):
            return False


def _refuse_inputs(path: Path, flag: str, inputs: Iterable[str | os.PathLike]) -> None:
    for item in map(Path, inputs):
        if _same(path, item):
            raise HwsimError(f"{flag.lstrip('-')}: {show_path(path)} is the input {show_path(item)} (expected an "
                             "output path that is none of the inputs: an input is never overwritten)", flag)


def _refuse_read_only(path: Path, flag: str) -> None:
    """An existing regular file the user cannot write, or that has no write permission for anyone (which root
    could otherwise override), is left alone: a rename could replace it anyway."""
    try:
        if path.is_file() and (not os.access(path, os.W_OK) or not os.stat(path).st_mode & 0o222):
            raise HwsimError(f"{flag.lstrip('-')}: {show_path(path)} is read-only (expected a writable file; "
                             "a read-only target is never replaced)", flag)
    except OSError:
        return


def _refuse_file_ancestor(path: Path, flag: str) -> None:
    """Refuse a path below an existing non-folder (``f/sub`` where ``f`` is a file): nothing can go there."""
    for anc in path.absolute().parents:
        try:
            if anc.is_dir():
                return
            if os.path.lexists(anc):
                raise HwsimError(f"{flag.lstrip('-')}: {show_path(anc)} is a file (expected a folder in the path "
                                 f"{show_path(path)})", flag)
        except OSError:
            return


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
