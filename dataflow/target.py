"""What the scheduler needs to know about an accelerator; the hardware side builds one from its config."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hwsim.dataflow.sparsity import NM


@dataclass(frozen=True)
class ArrayTarget:
    """A rows x cols PE array with on-chip A/B/C buffers, a vector engine and a top-N-of-M selector.

    Each PE holds `mults` multipliers: dense, it consumes `mults` reduction positions per cycle; under N:M it
    consumes `mults / N` groups of M activations and N weights each, i.e. `mults * M / N` positions per cycle.
    A tile whose operand traffic at the array edge needs more than a buffer's ports deliver per cycle is
    stretched to the port rate.
    """

    rows: int
    cols: int
    mults: int
    a_buffer_bytes: int
    b_buffer_bytes: int
    c_buffer_bytes: int
    elem_bytes: int  # operands in DRAM and buffers (FP16)
    acc_bytes: int  # partial sums (FP32)
    fill_cycles: int  # fill + drain of one block through the array
    vector_lanes: int
    vector_latency: int
    select_lanes: int  # top-N-of-M selector lanes; each takes M cycles per group of M
    interleave: bool = True  # interleave mapping: fill/drain paid once per tile, not per block
    select_latency: int = 0  # selector pipeline: last weight of a group in to its result out
    a_port_bytes: int = 0  # bytes per cycle each buffer's ports deliver to/take from the array (0: unlimited)
    b_port_bytes: int = 0
    c_port_bytes: int = 0

    def k_step(self, nm: NM | None) -> int:
        """Reduction positions one PE consumes per cycle."""
        if nm is None:
            return self.mults
        return self.mults // nm.keep * nm.group

    def b_bytes_per_position(self, nm: NM | None, compressed: bool) -> float:
        """DRAM/buffer bytes per dense position of B: compressed N:M stores N values + log2(M)-bit indices."""
        if nm is None or not compressed:
            return float(self.elem_bytes)
        return nm.bytes_per_position(self.elem_bytes)
