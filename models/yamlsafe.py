"""YAML for untrusted input: size and alias-expansion caps before any value is built, one-line errors."""
from __future__ import annotations

from typing import Any

import yaml

MAX_CHARS = 1_000_000     # a spec or model file is kilobytes; refuse megabytes before parsing
MAX_NODES = 200_000       # scalars + collections after expanding aliases (a billion-laughs file has 10^9)


class YamlError(ValueError):
    """Malformed or oversized YAML; the message is one line."""


def load_yaml(text: str) -> Any:
    """Parse `text` with the safe loader, refusing documents whose alias-expanded size exceeds MAX_NODES."""
    if len(text) > MAX_CHARS:
        raise YamlError(f"YAML document is {len(text):,} characters (expected at most {MAX_CHARS:,})")
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(f"invalid YAML{line}: {problem}") from None
    except RecursionError:
        raise YamlError("invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_size(root: yaml.Node) -> None:
    """Expanded node count with memoization per node (aliases point at shared nodes), iteratively."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose subtree is being counted: meeting one again means a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not done:
            if id(node) in open_:
                raise YamlError("invalid YAML: a recursive alias (a value that contains itself)")
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(c), 0) for c in children)
        if total > MAX_NODES:
            raise YamlError(f"YAML document expands to more than {MAX_NODES:,} values "
                            "(aliases repeated too often?)")
        sizes[id(node)] = total
        open_.discard(id(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    return []
