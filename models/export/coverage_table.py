"""The model x recipe coverage table of the README: which committed PyTorch exports import, their forward MACs
against torchvision's published figure. Run from the repository root:

    .venv/bin/python models/export/coverage_table.py

It reads tests/fixtures/onnx/ (written by export_torchvision.py): ``published.json`` (torchvision's GFLOPS,
``weights.meta['_ops']``) and ``export_failures.json`` (exports torch itself refused).
"""

import json
import lzma
import sys
import tempfile
import warnings
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "onnx"
RECIPES = ("dynamo", "script", "train")


def _load_fixture(model: str, recipe: str):
    from hwsim.models import load

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{model}.{recipe}.onnx"
        path.write_bytes(lzma.decompress((FIXTURES / f"{model}.{recipe}.onnx.xz").read_bytes()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load(str(path))


def rows(load=_load_fixture) -> list[dict]:
    """One row per model: GMACs per recipe (or why there is none), the published figure, the worst deviation."""
    published = json.loads((FIXTURES / "published.json").read_text())
    failed = json.loads((FIXTURES / "export_failures.json").read_text())
    models = sorted({p.name.split(".")[0] for p in FIXTURES.glob("*.onnx.xz")} | {k.split(".")[0] for k in failed})
    out = []
    for model in models:
        row = {"model": model, "published": published.get(model, {}).get("gflops"), "input": "-"}
        for recipe in RECIPES:
            if (FIXTURES / f"{model}.{recipe}.onnx.xz").exists():
                try:
                    graph = load(model, recipe)
                    row[recipe] = graph.macs / 1e9
                    row["input"] = "x".join(map(str, graph.input_shape))
                except Exception as error:  # noqa: BLE001 - the table reports any failure as such
                    row[recipe] = f"import fails: {' '.join(str(error).split())[:80]}"
            else:
                row[recipe] = "torch cannot export" if f"{model}.{recipe}" in failed else "not exported"
        numbers = [row[r] for r in RECIPES if isinstance(row[r], float)]
        row["deviation"] = (max(abs(n / row["published"] - 1) for n in numbers)
                            if numbers and row["published"] else None)
        out.append(row)
    return out


def markdown(table: list[dict]) -> str:
    lines = ["| model | input | GMACs: default (dynamo) | TorchScript | training | torchvision GFLOPS | worst deviation |",
             "|---|---|---|---|---|---|---|"]
    for row in table:
        cells = [f"{row[r]:.3f}" if isinstance(row[r], float) else row[r] for r in RECIPES]
        pub = f"{row['published']:g}" if row["published"] else "none published"
        dev = f"{100 * row['deviation']:.2f}%" if row["deviation"] is not None else "-"
        lines.append(f"| {row['model']} | {row['input']} | {' | '.join(cells)} | {pub} | {dev} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(rows()))
    sys.exit(0)
