"""The op handlers by ONNX op type: ``supported()`` is what the importer converts, ``op_table()`` the list in
docs/model-format.md."""

from collections.abc import Callable

HANDLERS: dict[str, Callable] = {}
BECOMES: dict[str, str] = {}  # op type -> what it becomes in the IR, one line of markdown


def handles(*op_types: str, becomes: str) -> Callable:
    """Register the decorated ``handler(converter, node, attrs)`` for ``op_types``; ``becomes`` says what they
    become (the docs' op list)."""

    def register(handler: Callable) -> Callable:
        for op_type in op_types:
            HANDLERS[op_type] = handler
            BECOMES[op_type] = becomes
        return handler

    return register


def supported() -> tuple[str, ...]:
    """Every ONNX op type the importer converts, sorted (the handler modules loaded)."""
    from hwsim.models.onnx import elementwise, layout, nn  # noqa: F401 - importing registers the handlers

    return tuple(sorted(HANDLERS))


def op_table() -> str:
    """The supported ONNX ops as a markdown table, ops that become the same thing on one row."""
    rows: dict[str, list[str]] = {}
    for op_type in supported():
        rows.setdefault(BECOMES[op_type], []).append(op_type)
    lines = ["| ONNX op | becomes |", "|---|---|"]
    lines += [f"| {', '.join(ops)} | {text} |" for text, ops in sorted(rows.items(), key=lambda r: r[1][0])]
    return "\n".join(lines)
