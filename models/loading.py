"""``hwsim.models.load``: one entry point for zoo names, YAML graph files, ONNX files and SCALE-Sim CSVs."""

import os
from pathlib import Path

from hwsim.models import yaml_graph, zoo
from hwsim.models.errors import ModelError
from hwsim.models.graph import Graph

SUFFIXES = (".yaml", ".yml", ".onnx", ".csv")


def source(name_or_path: str | os.PathLike) -> str | Path:
    """The one normalization of a model argument: a zoo name stays a str; a file (any PathLike, or a string
    ending in .yaml/.yml, .onnx or .csv, or holding a folder separator) becomes a Path, so a str and a Path
    naming the same file are read the same way everywhere."""
    if isinstance(name_or_path, os.PathLike):
        return Path(name_or_path)
    if isinstance(name_or_path, str) and (name_or_path.lower().endswith(SUFFIXES) or os.sep in name_or_path):
        return Path(name_or_path)
    return name_or_path


def is_topology(name_or_path: str | os.PathLike) -> bool:
    """Whether the model argument names a SCALE-Sim topology .csv (which may carry a sparsity column)."""
    src = source(name_or_path)
    return isinstance(src, Path) and src.suffix.lower() == ".csv"


def check_source(name_or_path: str | os.PathLike) -> None:
    """For a model file: refuse, before anything heavy is imported, a path that is missing, not a regular file
    or bigger than its reader's cap (each reader checks again as it reads). A zoo name passes."""
    src = source(name_or_path)
    if not isinstance(src, Path) or os.path.isdir(src):  # a folder of graph files is read by its own loader
        return
    from hwsim.models.onnx_checks import MAX_ONNX_BYTES
    from hwsim.models.reading import FileInputError, check_file
    from hwsim.models.scalesim import MAX_CSV_BYTES
    from hwsim.models.yamlsafe import MAX_BYTES

    suffix = src.suffix.lower()
    cap, what = {".onnx": (MAX_ONNX_BYTES, "an .onnx model"), ".csv": (MAX_CSV_BYTES, "a .csv topology")}.get(
        suffix, (MAX_BYTES, "a .yaml model file"))
    try:
        check_file(src, cap, what)
    except FileInputError as error:
        raise ModelError(f"model {error}") from None


def load(name_or_path: str | os.PathLike, resolution: int | None = None, classes: int | None = None) -> Graph:
    """A zoo model by name, or a graph file by path (a PathLike, or a string ending in .yaml/.yml, .onnx for
    an ONNX model, .csv for a SCALE-Sim topology, or naming a folder).

    A file fixes its own input shape and classifier, so passing ``resolution`` or ``classes`` with a file
    is an error rather than silently ignored.
    """
    src = source(name_or_path)
    if not isinstance(src, Path):  # zoo names have no suffix and no folder separator
        return zoo.build(src, resolution, classes)
    name_or_path = src
    for field, value in (("resolution", resolution), ("classes", classes)):
        if value is not None:
            raise ModelError(f"{field}: {value!r} given with model file {name_or_path} "
                             "(expected none: a graph file fixes its own shapes)")
    suffix = name_or_path.name.lower().rsplit(".", 1)[-1]
    if suffix == "onnx":
        from hwsim.models import onnx_import

        return onnx_import.load_file(name_or_path)
    if suffix == "csv":
        from hwsim.models import scalesim

        return scalesim.load_file(name_or_path)
    return yaml_graph.load_file(name_or_path)
