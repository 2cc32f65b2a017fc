"""The house rule: dataflow imports models only (and not even that at module level), never hwsim or rtl."""
import ast
from pathlib import Path

import dataflow


def test_dataflow_imports_no_package_above_it():
    for path in Path(dataflow.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in {"hwsim", "rtl", "reports"}, f"{path.name} imports {name}"
