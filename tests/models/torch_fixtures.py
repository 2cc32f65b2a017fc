"""The committed PyTorch exports (tests/fixtures/onnx, written by models/export/export_torchvision.py): paths,
the published GFLOPS figures, and a cached loader that decompresses each file once per test session."""

import atexit
import json
import lzma
import shutil
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onnx"
RECIPES = ("dynamo", "script", "train")
PUBLISHED = json.loads((FIXTURES / "published.json").read_text())
_TMP = Path(tempfile.mkdtemp(prefix="hwsim-onnx-fixtures-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


def fixtures() -> list[tuple[str, str]]:
    """(model, recipe) of every committed export."""
    return sorted(tuple(p.name[: -len(".onnx.xz")].rsplit(".", 1)) for p in FIXTURES.glob("*.onnx.xz"))


def path(model: str, recipe: str) -> Path:
    """The export as a plain .onnx file (decompressed once)."""
    out = _TMP / f"{model}.{recipe}.onnx"
    if not out.exists():
        out.write_bytes(lzma.decompress((FIXTURES / f"{model}.{recipe}.onnx.xz").read_bytes()))
    return out


@lru_cache(maxsize=None)
def load(model: str, recipe: str, unfold_bn: bool = False):
    """(Graph, warnings as text) of one export, decompressed in memory."""
    import onnx

    from hwsim.models.onnx_import import from_model

    proto = onnx.load_from_string(lzma.decompress((FIXTURES / f"{model}.{recipe}.onnx.xz").read_bytes()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = from_model(proto, default_name=f"{model}.{recipe}", unfold_bn=unfold_bn)
    return graph, tuple(str(w.message) for w in caught)
