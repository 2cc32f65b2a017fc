"""A bounded YAML loader for untrusted files: size, alias expansion and nesting are capped before any value
is built.

PyYAML's ``safe_load`` builds whatever the text describes: ten nested aliases of ten (a "billion laughs")
expand to 10^9 values, a self-referencing anchor is infinite, and a 10,000-deep ``[[[...]]]`` overflows the
stack. Here the text is first composed into PyYAML's node graph, where an alias is a shared node and costs
nothing; that graph is measured as if every alias were expanded, and refused past the caps. Only then are
Python values constructed. Every refusal is a :class:`YAMLInputError` with a one-line message.

A mapping that names the same key twice is refused too (PyYAML keeps the last one silently). Files are read
through :mod:`hwsim.models.reading` (regular files only, size checked first). Imports nothing above
``hwsim.models``, so ``hwsim.models`` and ``hwsim`` can both use it.
"""

import os

import yaml

from hwsim.models.reading import FileInputError, one_line, read_bytes, show_path

MAX_BYTES = 512 * 1024
"""Largest document read (512 KiB: a 500-layer model file is about 30 KB; parsing 512 KiB takes about 1 s)."""
MAX_NODES = 150_000
"""Most values (scalars, lists, mappings) the document may hold once every alias is expanded."""
MAX_DEPTH = 64
"""Deepest nesting of lists and mappings."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YAMLInputError(ValueError):
    """A document that is not valid YAML, or too big, too deep or too alias-heavy to load safely."""


def load(text: str | bytes, *, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES,
         max_depth: int = MAX_DEPTH) -> object:
    """The value of one YAML document, like ``yaml.safe_load``, within the caps (YAMLInputError otherwise)."""
    if isinstance(text, bytes):
        text = _decode(text)
    if not isinstance(text, str):
        raise YAMLInputError(f"YAML text: a {type(text).__name__} (expected str or bytes)")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise YAMLInputError(f"YAML document: {size:,} bytes (expected at most {max_bytes:,})")
    if "\x00" in text:
        raise YAMLInputError("YAML document: contains a NUL byte (expected text)")
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as error:
        raise _invalid(error) from None
    except RecursionError:
        raise YAMLInputError(f"YAML document: nested too deeply (expected at most {max_depth} levels)") from None
    except Exception as error:  # noqa: BLE001 - the C and Python parsers fail in several ways on garbage
        raise YAMLInputError(f"invalid YAML: {one_line(error)}") from None
    if node is None:
        return None
    _measure(node, max_nodes, max_depth)
    try:
        return yaml.SafeLoader("").construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise _invalid(error) from None
    except Exception as error:  # noqa: BLE001 - constructors also raise ValueError (a date like 2024-13-01,
        # an int of 5,000 digits), TypeError (an unhashable key), RecursionError...: all mean unusable YAML
        raise YAMLInputError(f"invalid YAML: {one_line(error)}") from None


def load_file(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES,
              max_depth: int = MAX_DEPTH) -> object:
    """``load`` of the file at ``path``; a missing, unreadable, oversized or non-UTF-8 file is a YAMLInputError
    naming the path (OS errors such as a name too long, a directory or no permission included)."""
    shown = show_path(path)
    try:
        data = read_bytes(path, max_bytes, "a .yaml file")
    except FileInputError as error:
        raise YAMLInputError(str(error)) from None
    try:
        return load(_decode(data), max_bytes=max_bytes, max_nodes=max_nodes, max_depth=max_depth)
    except YAMLInputError as error:
        raise YAMLInputError(f"file {shown}: {error}") from None


def _invalid(error: yaml.MarkedYAMLError) -> YAMLInputError:
    """PyYAML's error as one line with the line number."""
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}" if mark else ""
    return YAMLInputError(f"invalid YAML{where}: {one_line(error.problem or error.context)}")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise YAMLInputError(f"not UTF-8 text (byte {error.start}; expected a YAML text file)") from None


def _measure(root: yaml.Node, max_nodes: int, max_depth: int) -> None:
    """Refuse a node graph whose alias-expanded size exceeds ``max_nodes`` or depth exceeds ``max_depth``.

    Each distinct collection is walked once; its expanded (size, height) is memoized, so a shared (aliased)
    node counts once per use without being walked again. Recursion stops at ``max_depth``, so it stays
    shallow. A node met again while it is still open is a self-referencing anchor: infinite once expanded.
    """
    memo: dict[int, tuple[int, int]] = {}
    open_ids: set[int] = set()
    too_deep = f"YAML document: nested more than {max_depth} levels deep (expected at most {max_depth})"

    def walk(node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > max_depth:
            raise YAMLInputError(too_deep)
        if isinstance(node, yaml.ScalarNode):
            return 1, 0
        key = id(node)
        if key in memo:
            size, height = memo[key]
            if depth + height > max_depth:
                raise YAMLInputError(too_deep)
            return size, height
        if key in open_ids:
            raise YAMLInputError("YAML document: an alias refers to its own anchor (expected a finite document)")
        open_ids.add(key)
        if isinstance(node, yaml.MappingNode):
            _check_unique_keys(node)
        size, height = 1, 0
        kids = node.value if isinstance(node, yaml.SequenceNode) else [p for pair in node.value for p in pair]
        for kid in kids:
            kid_size, kid_height = walk(kid, depth + 1)
            size += kid_size
            height = max(height, kid_height + 1)
            if size > max_nodes:
                raise YAMLInputError(f"YAML document: more than {max_nodes:,} values once aliases are expanded "
                                     f"(expected at most {max_nodes:,})")
        open_ids.discard(key)
        memo[key] = size, height
        return size, height

    walk(root, 0)


def _check_unique_keys(node: yaml.MappingNode) -> None:
    """Refuse a mapping that names a (scalar) key twice: PyYAML would keep the last value without a word."""
    seen: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        if (key.tag, key.value) in seen:
            first = seen[key.tag, key.value] + 1
            raise YAMLInputError(f"YAML document: key {one_line(repr(key.value), 60)} appears twice (lines {first} "
                                 f"and {key.start_mark.line + 1}; expected each key once)")
        seen[key.tag, key.value] = key.start_mark.line
