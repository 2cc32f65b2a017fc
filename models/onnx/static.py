"""Static evaluation: a node whose inputs are all known without running the network (weights, shapes, constants)
is computed now with onnx's reference implementation, so shape arithmetic, weight transposes, a class token's
Expand or a causal mask's construction fold away before any layer is built."""

import numpy as np

MAX_STATIC_ELEMS = 1 << 26
"""Largest tensor the importer computes statically (64 Mi elements: bigger than any weight of the zoo's models)."""


def evaluate(node, values: list, opset: int) -> list:
    """The outputs of ``node`` on the numpy ``values`` of its inputs ('' inputs are None)."""
    from onnx.reference import ReferenceEvaluator

    feeds = {name: value for name, value in zip(node.input, values) if name}
    engine = ReferenceEvaluator(node, opsets={"": opset})
    return list(engine.run(None, feeds))


def shape_of(full: tuple[int, ...], attrs: dict) -> np.ndarray:
    """ONNX ``Shape`` (with its ``start``/``end`` attributes) of a tensor of shape ``full``."""
    start, end = attrs.get("start", 0), attrs.get("end", None)
    return np.array(full[start:end], dtype=np.int64)
