"""Bounded reads of user files: every reader of a model, spec, scheme or target file goes through here.

The checks come before a byte is parsed: the path must name a regular file (a FIFO would block forever, a
device such as ``/dev/zero`` never ends, also behind a symlink), no bigger than the reader's cap, and only
that many bytes are ever read (a file growing while read is cut off at the cap and refused). Every refusal
is a :class:`FileInputError` with one line naming the file.

Imports nothing else of the project, so ``hwsim.models`` and ``hwsim`` can both use it.
"""

import os
import stat


class FileInputError(ValueError):
    """A file that cannot be read safely: missing, not a regular file, too big, unreadable."""


def check_file(path: str | os.PathLike, max_bytes: int, what: str) -> int:
    """The size of the regular file at ``path`` (symlinks followed), or FileInputError when it is missing, not a
    regular file or bigger than ``max_bytes``. ``what`` names the expected kind (e.g. "a .csv topology")."""
    shown = show_path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileInputError(f"file {shown}: not found (expected {what} at that path)") from None
    except OSError as error:
        raise FileInputError(f"file {shown}: cannot be read ({one_line(error.strerror or error)})") from None
    except (ValueError, TypeError) as error:  # a NUL in the path, a path of the wrong type
        raise FileInputError(f"file {shown}: cannot be read ({one_line(error)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise FileInputError(f"file {shown}: is a directory (expected {what})")
    if not stat.S_ISREG(info.st_mode):
        raise FileInputError(f"file {shown}: not a regular file (expected {what}; FIFOs and devices are refused)")
    if info.st_size > max_bytes:
        raise FileInputError(f"file {shown}: larger than {max_bytes:,} bytes ({info.st_size:,}; expected {what} "
                             "of that size at most)")
    return info.st_size


def read_bytes(path: str | os.PathLike, max_bytes: int, what: str) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` of them (see ``check_file``)."""
    check_file(path, max_bytes, what)
    shown = show_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO swapped in meanwhile: no block
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise FileInputError(f"file {shown}: not a regular file (expected {what})")
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise FileInputError(f"file {shown}: cannot be read ({one_line(error.strerror or error)})") from None
    if len(data) > max_bytes:
        raise FileInputError(f"file {shown}: larger than {max_bytes:,} bytes (expected {what} of that size at "
                             "most)")
    return data


def read_text(path: str | os.PathLike, max_bytes: int, what: str) -> str:
    """``read_bytes`` decoded as UTF-8 with universal newlines, as ``Path.read_text`` reads (a byte that is not
    UTF-8 is a FileInputError naming its offset)."""
    data = read_bytes(path, max_bytes, what)
    try:
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as error:
        raise FileInputError(f"file {show_path(path)}: not UTF-8 text (byte {error.start}; expected {what})") \
            from None


def escape(text: object) -> str:
    """``text`` with every control character, newline and escape sequence written as a visible escape
    (``\\n``, ``\\x1b``, ``\\u202e``...): the one rule for anything a user or a file controls before it reaches
    a terminal, so a name cannot forge a line or retitle the terminal. Printable text is unchanged."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def show_path(path: object, limit: int = 80) -> str:
    """A path for a one-line message: escaped (see ``escape``), cut to ``limit`` characters so an over-long
    name stays readable."""
    try:
        text = os.fsdecode(path)
    except TypeError:
        text = repr(path)
    text = escape(text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
    if len(text) <= limit:
        return text
    tail = limit * 2 // 3  # the end of a path (its file name) says the most
    return text[: limit - tail - 3] + "..." + text[-tail:]


def one_line(text: object, limit: int = 120) -> str:
    """``text`` on one line of at most ``limit`` characters, escaped."""
    line = escape(" ".join(str(text).split()))
    return line if len(line) <= limit else line[: limit - 3] + "..."
