"""The int8 backbones of "On-Device Training Under 256KB Memory", built from the layer tables in models/data.

Each CSV row is a conv (``idx, name, in_channels, out_channels, kernel, stride, in_hw, out_hw, groups,
residual_add_after``) at 128x128x3 input; padding is (kernel - 1) / 2. The int8 models have no BatchNorm:
every conv has a bias and is followed by the int8 clamp, modelled as Activation("relu6"). That includes
the projection conv (``pw2``) of each block: the reference README states every conv ends in the clamp (for
``pw2`` its bounds are the int8 range rather than ReLU6's, but it costs the same and its backward needs
the same 1-bit mask, which is what the training graph cares about). A row with ``residual_add_after = 1``
adds the clamped conv output to the block's input (the tensor that entered the block's first conv; a
block is the name prefix before the dot, e.g. ``b4``). Then global average pool, flatten and the
classifier Linear (bias) from the last conv's channels to ``classes``.

Other resolutions keep kernels and strides and re-infer every spatial size.
"""

import csv
import io
from dataclasses import dataclass
from importlib import resources

from hwsim.models.builder import GraphBuilder
from hwsim.models.graph import Graph
from hwsim.models.ops import Conv2d
from hwsim.models.zoo.blocks import classifier


@dataclass(frozen=True)
class ConvRow:
    """One row of a layer table."""

    idx: int
    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    in_hw: int
    out_hw: int
    groups: int
    residual_add_after: bool


def rows(model: str) -> tuple[ConvRow, ...]:
    """The layer table of ``model`` (a packaged CSV, e.g. ``mcunet-5fps``)."""
    text = resources.files("hwsim.models").joinpath("data", f"{model}.csv").read_text(encoding="utf-8")
    return tuple(_parse(record) for record in csv.DictReader(io.StringIO(text)))


def _parse(record: dict[str, str]) -> ConvRow:
    values: dict[str, object] = {k: v if k == "name" else int(v) for k, v in record.items()}
    values["residual_add_after"] = values["residual_add_after"] == 1
    return ConvRow(**values)


def from_table(model: str, resolution: int, classes: int) -> Graph:
    """Build ``model`` from its layer table: conv + clamp per row, residual Adds, pooled classifier."""
    b = GraphBuilder(model, (3, resolution, resolution))
    x, block, block_input = "input", None, "input"
    for row in rows(model):
        if row.name.split(".")[0] != block:
            block, block_input = row.name.split(".")[0], x
        conv = Conv2d(row.in_channels, row.out_channels, row.kernel, row.stride, (row.kernel - 1) // 2,
                      row.groups, bias=True)  # the table's in_channels are checked against the input
        x = b.add(conv, x, name=row.name)
        x = b.act(x, "relu6", name=f"{row.name}.relu6")
        if row.residual_add_after:
            x = b.sum(block_input, x, name=f"{block}.add")
    classifier(b, x, classes, name="classifier")
    return b.build()
