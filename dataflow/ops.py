"""Training ops: what the scheduler hands to a target, per layer and phase."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hwsim.dataflow.sparsity import NM


class Phase(str, Enum):
    """The three GEMMs of a training step: forward, backward data gradient, weight gradient (+ update)."""

    FF = "ff"
    BP = "bp"
    WU = "wu"


@dataclass(frozen=True)
class GemmOp:
    """C[m x n] = A[m x k] @ B[k x n], repeated `groups` times (conv groups, attention heads x batch).

    `nm` set means B is N:M sparse along k; `select_on_load` means its mask is chosen by the top-N-of-M
    selector as the dense B tile streams in (no pre-generation), otherwise B arrives compressed.
    `a_reuse` is the im2col expansion of A: the array reads m*k elements but only m*k/a_reuse distinct ones
    cross the DRAM bus and sit in the buffer (a conv tile loads its input patch, not the unrolled columns).
    `select_passes`: selector visits per B element when selecting on load (a transposable search: more).
    """

    name: str
    layer: str
    phase: Phase
    m: int
    k: int
    n: int
    groups: int = 1
    nm: NM | None = None
    select_on_load: bool = False
    a_reuse: float = 1.0
    select_passes: int = 1

    kind = "gemm"

    @property
    def dense_macs(self) -> int:
        return self.m * self.k * self.n * self.groups

    @property
    def macs(self) -> int:
        """MACs actually performed: N:M skips the pruned (M-N)/M of the reduction."""
        if self.nm is None:
            return self.dense_macs
        return self.dense_macs * self.nm.keep // self.nm.group


@dataclass(frozen=True)
class VectorOp:
    """An element-wise pass on the vector engine over `elems` elements, streamed from and to DRAM.

    Also the optimizer step (`kind="update"`), where `select_passes` top-N-of-M selections run on the
    weights as they stream by (pre-generation of the next iteration's N:M weights).
    """

    name: str
    layer: str
    phase: Phase
    elems: int
    ops_per_elem: float
    read_bytes_per_elem: float
    write_bytes_per_elem: float
    kind: str = "vector"
    select_passes: int = 0

    @property
    def macs(self) -> int:
        return 0


Op = GemmOp | VectorOp
