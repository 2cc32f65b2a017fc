"""The op handlers by ONNX op type: ``SUPPORTED`` is what the importer converts (the docs list it)."""

from collections.abc import Callable

HANDLERS: dict[str, Callable] = {}


def handles(*op_types: str) -> Callable:
    """Register the decorated ``handler(converter, node, attrs)`` for ``op_types``."""

    def register(handler: Callable) -> Callable:
        for op_type in op_types:
            HANDLERS[op_type] = handler
        return handler

    return register


def supported() -> tuple[str, ...]:
    """Every ONNX op type the importer converts, sorted (the handler modules loaded)."""
    from hwsim.models.onnx import elementwise, layout, nn  # noqa: F401 - importing registers the handlers

    return tuple(sorted(HANDLERS))
