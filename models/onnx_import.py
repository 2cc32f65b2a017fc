"""Graphs from ONNX files (``--model net.onnx``), through the ``onnx`` package and its shape inference.

This module reads the file; ``hwsim.models.onnx`` converts the graph (see its modules for what each ONNX op
becomes, and docs/model-format.md for the list). The batch dimension is dropped (the simulator's ``batch``
decides). An op type the importer does not convert, or an attribute the IR cannot express, is one ModelError
line naming the op type and the node. Whatever the conversion folds away or ignores is in ``Graph.notes``; an
eval-mode export whose BatchNorm was folded into the convolutions gets a one-line ``ModelWarning``
(``unfold_bn=True`` restores a BatchNorm after each biased convolution).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from hwsim.models.errors import ModelError, ModelWarning
from hwsim.models.graph import Graph


def load_file(path: str | Path, unfold_bn: bool = False) -> Graph:
    """Read the ONNX model at ``path`` and convert it (errors: one ModelError line naming the file; a folded
    BatchNorm: one ModelWarning line)."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ModelError(f"model file {path}: reading ONNX needs the onnx package "
                         "(expected it installed: pip install 'hwsim[onnx]')") from None
    from hwsim.models.onnx_checks import read_model

    model = read_model(path)  # bounded, external data sized first, structure and attributes checked
    try:
        graph, warning = _convert(model, Path(path).stem, unfold_bn)
    except ModelError as error:
        raise error.prefixed(f"model file {path}: ") from None
    if warning:
        warnings.warn(f"model file {path}: {warning}", ModelWarning, stacklevel=2)
    return graph


def from_model(model, default_name: str = "model", unfold_bn: bool = False) -> Graph:
    """Convert an in-memory ``onnx.ModelProto`` (a folded BatchNorm: one ModelWarning line)."""
    from hwsim.models.onnx_checks import check_model

    check_model(model)
    graph, warning = _convert(model, default_name, unfold_bn)
    if warning:
        warnings.warn(warning, ModelWarning, stacklevel=2)
    return graph


def _convert(model, default_name: str, unfold_bn: bool) -> tuple[Graph, str | None]:
    from hwsim.models.onnx.convert import convert

    return convert(model, default_name, unfold_bn)
