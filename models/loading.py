"""``hwsim.models.load``: one entry point for zoo names, YAML graph files, ONNX files and SCALE-Sim CSVs."""

import os

from hwsim.models import yaml_graph, zoo
from hwsim.models.errors import ModelError
from hwsim.models.graph import Graph

SUFFIXES = (".yaml", ".yml", ".onnx", ".csv")


def load(name_or_path: str | os.PathLike, resolution: int | None = None, classes: int | None = None,
         unfold_bn: bool = False) -> Graph:
    """A zoo model by name, or a graph file by path (a PathLike, or a string ending in .yaml/.yml, .onnx for
    an ONNX model, .csv for a SCALE-Sim topology, or naming a folder).

    A file fixes its own input shape and classifier, so passing ``resolution`` or ``classes`` with a file
    is an error rather than silently ignored. ``unfold_bn`` (ONNX files only) restores the BatchNorm an
    eval-mode export folded into its convolutions.
    """
    is_file = isinstance(name_or_path, os.PathLike) or (  # zoo names have no suffix and no folder separator
        isinstance(name_or_path, str) and (name_or_path.lower().endswith(SUFFIXES) or os.sep in name_or_path))
    if not is_file and unfold_bn:
        raise ModelError(f"unfold_bn: given with zoo model {name_or_path!r} (expected an .onnx file)")
    if not is_file:
        return zoo.build(name_or_path, resolution, classes)
    for field, value in (("resolution", resolution), ("classes", classes)):
        if value is not None:
            raise ModelError(f"{field}: {value!r} given with model file {name_or_path} "
                             "(expected none: a graph file fixes its own shapes)")
    suffix = str(name_or_path).lower().rsplit(".", 1)[-1]
    if unfold_bn and suffix != "onnx":
        raise ModelError(f"unfold_bn: given with model {name_or_path} (expected an .onnx file: only an ONNX "
                         "export folds BatchNorm away)")
    if suffix == "onnx":
        from hwsim.models import onnx_import

        return onnx_import.load_file(name_or_path, unfold_bn=unfold_bn)
    if suffix == "csv":
        from hwsim.models import scalesim

        return scalesim.load_file(name_or_path)
    return yaml_graph.load_file(name_or_path)
