"""SCALE-Sim topology CSVs (``--model layers.csv``): read both forms, write the conv form or the GEMM form.

Conv form (SCALE-Sim 2/3)::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, [Sparsity,]

GEMM form (``Layer, M, N, K, [Sparsity,]``): C[M x N] = A[M x K] B[K x N]. v3's optional sparsity column is an
N:M ratio per layer (``1:1`` dense, ``2:4`` ...). Rows end with a comma, as SCALE-Sim writes them.

A topology lists layers without padding (the IFMAP sizes are the padded ones), without the layers between them
(pooling, norms, activations) and without saying how one feeds the next. SCALE-Sim sizes the output
ceil((IFMAP - filter) / stride) + 1 (a partial last window); the IR floors, so a row whose stride does not divide
IFMAP - filter gets the padding that gives SCALE-Sim's size. A row becomes a conv2d with that padding (usually 0;
GEMM form: a linear on an (M, K) input), a layer whose name contains ``DP`` a depthwise conv (as SCALE-Sim
expands it, one filter set per channel), and consecutive rows whose shapes do not chain are joined by a
shape-only ``relayout``. ``sparsity`` maps each layer to its N:M ratio (absent: dense).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from hwsim.models.builder import GraphBuilder
from hwsim.models.errors import ModelError
from hwsim.models.graph import Graph
from hwsim.models.ops import Conv2d, Linear, Relayout
from hwsim.models.reading import FileInputError, read_text

CONV_HEADER = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
               "Num Filter", "Strides")
GEMM_HEADER = ("Layer", "M", "N", "K")
MAX_CSV_BYTES = 4 << 20
"""Largest topology file (4 MiB: a 1,000-layer topology is about 60 KB)."""
MAX_ROWS = 10_000
"""Most layers in a topology (the simulator schedules at most 10,000 ops per run)."""
_NM = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


@dataclass(frozen=True)
class Topology:
    """A topology file read: the graph and each layer's N:M sparsity ratio as written (``"2:4"``; dense absent)."""

    graph: Graph
    sparsity: dict[str, str]


def load_file(path: str | Path) -> Graph:
    """The graph of the topology CSV at ``path`` (see ``read`` for the sparsity column)."""
    return read(path).graph


def read(path: str | Path) -> Topology:
    path = Path(path)
    try:  # a regular file of bounded size, before any parsing
        text = read_text(path, MAX_CSV_BYTES, "a .csv topology")
    except FileInputError as error:
        raise ModelError(f"model {error}") from None
    try:
        return parse(text, name=path.stem)
    except ModelError as error:
        raise error.prefixed(f"model file {path}: ") from None


def parse(text: str, name: str = "topology") -> Topology:
    """Parse topology ``text`` (either form, told apart by the header)."""
    rows = []
    for row in csv.reader(io.StringIO(text)):
        if any(c.strip() for c in row):
            rows.append([c.strip() for c in row])
            if len(rows) > MAX_ROWS + 1:
                raise ModelError(f"rows: more than {MAX_ROWS:,} layers (expected at most {MAX_ROWS:,})")
    if not rows:
        raise ModelError("header: missing (expected a SCALE-Sim topology: 'Layer name, IFMAP Height, ...' or "
                         "'Layer, M, N, K')")
    header = [c.lower() for c in rows[0] if c]
    if any(_is_number(c) for c in header[1:]):
        raise ModelError(f"header: missing, the first row {rows[0][:8]} holds numbers (expected a header row, "
                         f"{', '.join(CONV_HEADER)} or {', '.join(GEMM_HEADER)}, before the layers)")
    gemm = header[1:4] == ["m", "n", "k"]
    if not gemm and len(header) < len(CONV_HEADER):
        raise ModelError(f"header: {rows[0]} (expected the conv form {', '.join(CONV_HEADER)} or the GEMM form "
                         f"{', '.join(GEMM_HEADER)})")
    body = rows[1:]
    if not body:
        raise ModelError("rows: none (expected at least one layer)")
    width = 4 if gemm else len(CONV_HEADER)
    builder: GraphBuilder | None = None
    sparsity: dict[str, str] = {}
    for line, row in enumerate(body, start=2):
        cells = [c for c in row]
        while cells and cells[-1] == "":
            cells.pop()  # the trailing comma
        where = f"line {line}"
        if len(cells) not in (width, width + 1):
            raise ModelError(f"{where}: {len(cells)} fields (expected {width}, or {width + 1} with sparsity)")
        layer = cells[0] or f"layer{line - 1}"
        nums = [_int(f"{where}.{col}", v) for col, v in zip((GEMM_HEADER if gemm else CONV_HEADER)[1:],
                                                              cells[1:width])]
        nm = _ratio(f"{where}.Sparsity", cells[width]) if len(cells) > width else None
        if gemm:
            m, n, k = nums
            in_shape, op = (m, k), Linear(k, n, bias=False)
        else:
            h, w, fh, fw, c, f, s = nums
            if fh > h or fw > w:
                raise ModelError(f"{where}: filter {fh}x{fw} larger than the IFMAP {h}x{w} (expected it to fit)")
            depthwise = "DP" in layer
            in_shape = (c, h, w)
            pad = (_ceil_pad(h - fh, s), _ceil_pad(w - fw, s))
            op = Conv2d(c, c * f if depthwise else f, (fh, fw), (s, s), pad, groups=c if depthwise else 1)
        if builder is None:
            builder = GraphBuilder(name, in_shape)
        src = builder.last
        try:
            if builder.shape(src) != in_shape:
                src = builder.add(Relayout(in_shape), src, name=f"{layer}.relayout")
            builder.add(op, src, name=layer)
        except ModelError as error:
            raise error.prefixed(f"{where}: ") from None
        if nm is not None:
            sparsity[layer] = nm
    return Topology(builder.build(), sparsity)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _ceil_pad(extent: int, stride: int) -> int:
    """Padding that makes the IR's floor-mode output size SCALE-Sim's ceil((extent) / stride) + 1: SCALE-Sim
    computes a partial last window when the stride does not divide IFMAP - filter."""
    rem = extent % stride
    return 0 if rem == 0 else -(-(stride - rem) // 2)


def _int(field: str, value: str) -> int:
    try:
        out = int(value)
    except ValueError:
        out = 0
    if out < 1:
        raise ModelError(f"{field}: {value!r} (expected a positive integer)")
    return out


def _ratio(field: str, value: str) -> str | None:
    """``N:M`` from the sparsity column; None for dense (``1:1``, or ``N == M``)."""
    match = _NM.match(value)
    if not match or not 0 < int(match[1]) <= int(match[2]):
        raise ModelError(f"{field}: {value!r} (expected an N:M ratio like 2:4, or 1:1 for dense)")
    n, m = int(match[1]), int(match[2])
    return None if n == m else f"{n}:{m}"


def dumps(graph: Graph, form: str = "auto", sparsity: dict[str, str] | None = None) -> str:
    """The weighted layers of ``graph`` as a topology CSV (``form``: conv, gemm, or auto = conv if any conv2d).

    Conv form: each conv2d with the IFMAP extent its windows read (padding included, an unread last row or
    column left out, so SCALE-Sim's ceil-mode output size is the IR's); a depthwise conv as a ``DP`` row; a
    linear as a 1x1 conv over its rows. GEMM form: every conv2d and linear as M = output positions,
    N = outputs per group, K = reduction (one row per group). Matmuls of two activations have no weights and
    are not rows of either form; other grouped convs only fit the GEMM form.
    """
    sparsity = sparsity or {}
    if form == "auto":
        form = "conv" if any(layer.op.kind == "conv2d" for layer in graph.layers) else "gemm"
    if form not in ("conv", "gemm"):
        raise ModelError(f"form: {form!r} (expected conv, gemm or auto)")
    out = io.StringIO()
    out.write(", ".join(CONV_HEADER if form == "conv" else GEMM_HEADER) + ", Sparsity,\n")
    for layer in graph.layers:
        if not layer.weighted:
            if layer.op.kind == "matmul":
                raise ModelError(f"layer {layer.name!r}: a matmul of two activations (expected weight layers "
                                 "only: SCALE-Sim topologies have no activation x activation GEMM)")
            continue
        ratio = sparsity.get(layer.name, "1:1")
        for row in (_conv_row(layer) if form == "conv" else _gemm_rows(layer)):
            out.write(", ".join(map(str, row)) + f", {ratio},\n")
    return out.getvalue()


def _conv_row(layer) -> list[list]:
    op, name = layer.op, layer.name.replace(",", "_")
    if op.kind == "linear":
        rows = 1
        for d in layer.in_shapes[0][:-1]:
            rows *= d
        return [[name, 1, rows, 1, 1, op.in_features, op.out_features, 1]]
    c, h, w = layer.in_shapes[0]
    if op.stride[0] != op.stride[1]:
        raise ModelError(f"layer {layer.name!r}: stride {op.stride} (expected equal strides: the conv form has "
                         "one Strides column)")
    if op.groups not in (1, op.in_channels):
        raise ModelError(f"layer {layer.name!r}: groups {op.groups} (expected 1 or depthwise in the conv form; "
                         "use the GEMM form)")
    dp = op.groups > 1
    _, oh, ow = layer.out_shape  # the IFMAP extent the windows read: padding included, unread rows left out
    ih, iw = (oh - 1) * op.stride[0] + op.kernel[0], (ow - 1) * op.stride[1] + op.kernel[1]
    return [[f"{name} DP" if dp and "DP" not in name else name, ih, iw, op.kernel[0], op.kernel[1], c,
             op.out_channels // op.groups if dp else op.out_channels, op.stride[0]]]


def _gemm_rows(layer) -> list[list]:
    op, name = layer.op, layer.name.replace(",", "_")
    if op.kind == "linear":
        rows = 1
        for d in layer.in_shapes[0][:-1]:
            rows *= d
        return [[name, rows, op.out_features, op.in_features]]
    _, oh, ow = layer.out_shape
    k = op.in_channels // op.groups * op.kernel[0] * op.kernel[1]
    n = op.out_channels // op.groups
    if op.groups == 1:
        return [[name, oh * ow, n, k]]
    return [[f"{name}.g{g}", oh * ow, n, k] for g in range(op.groups)]


def write(graph: Graph, path: str | Path, form: str = "auto", sparsity: dict[str, str] | None = None) -> None:
    """Write ``dumps(graph, form, sparsity)`` to ``path``."""
    Path(path).write_text(dumps(graph, form, sparsity), encoding="utf-8")


__all__ = ["CONV_HEADER", "GEMM_HEADER", "Topology", "dumps", "load_file", "parse", "read", "write"]
