"""Training methods and N:M specs: which operand of which phase is N:M sparse, and along which dimension."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from math import ceil, log2

from hwsim.dataflow.ops import Phase


class SparsityError(ValueError):
    """A bad method or N:M spec; the message is one line naming the field, value and expectation."""


class Method(str, Enum):
    """How a training iteration uses N:M sparsity (see docs/modelling.md, 'Methods')."""

    DENSE = "dense"
    SRSTE = "srste"  # forward only: W is N:M along the input dim
    BDWP = "bdwp"  # forward and backward-data, each with its own top-N-of-M mask every iteration
    TRANSPOSABLE = "transposable"  # one mask valid in both directions

    @classmethod
    def parse(cls, text: str | Method) -> Method:
        try:
            return cls(text)
        except ValueError:
            raise SparsityError(
                f"method: unknown method {_short(text)} (expected one of: {', '.join(m.value for m in cls)})"
            ) from None

    @property
    def sparse_phases(self) -> frozenset[Phase]:
        """Phases whose weight operand is N:M compressed along the GEMM reduction dimension."""
        return {
            Method.DENSE: frozenset(),
            Method.SRSTE: frozenset({Phase.FF}),
            Method.BDWP: frozenset({Phase.FF, Phase.BP}),
            Method.TRANSPOSABLE: frozenset({Phase.FF, Phase.BP}),
        }[self]

    @property
    def masks_per_iteration(self) -> int:
        """Top-N-of-M selections over the weights per iteration (BDWP: one per direction)."""
        return {Method.DENSE: 0, Method.SRSTE: 1, Method.BDWP: 2, Method.TRANSPOSABLE: 1}[self]

    def select_visits(self, nm: NM) -> int:
        """Selector visits per weight for one mask selection (a selector lane visits one element a cycle).

        Top-N of M: one visit. A transposable mask (N of M along rows and columns of each M x M block) is
        searched greedily (Hubara et al., 2021): sort the block's M^2 magnitudes, about 2 log2(M) visits per
        element on a compare lane, then one accept pass: 2 log2(M) + 1 (7 at M = 8).
        """
        if self is Method.TRANSPOSABLE:
            return 2 * ceil(log2(nm.group)) + 1
        return 1


@dataclass(frozen=True)
class NM:
    """Keep `keep` of every `group` consecutive elements along the reduction dimension (the paper's N:M)."""

    keep: int
    group: int

    def __post_init__(self) -> None:
        if self.group < 2:
            raise SparsityError(f"nm: {self} has group size M={self.group} (expected M >= 2)")
        if not 0 < self.keep < self.group:
            raise SparsityError(f"nm: {self} keeps N={self.keep} of M={self.group} (expected 0 < N < M, e.g. 2:8)")

    @classmethod
    def parse(cls, text: str | NM) -> NM:
        if isinstance(text, NM):
            return text
        parts = str(text).split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() and len(p.strip()) <= 6 for p in parts):
            raise SparsityError(f"nm: {_short(text)} is not an N:M spec (expected two integers of at most 6 digits, "
                                "like 2:8)")
        return cls(int(parts[0]), int(parts[1]))

    @property
    def density(self) -> float:
        return self.keep / self.group

    def bytes_per_position(self, elem_bytes: int) -> float:
        """Compressed bytes per dense position: N values and N log2(M)-bit indices per group of M."""
        return self.density * (elem_bytes + ceil(log2(self.group)) / 8)

    def __str__(self) -> str:
        return f"{self.keep}:{self.group}"


def resolve(method: str | Method, nm: str | NM | None) -> tuple[Method, NM | None]:
    """Check that a method and an N:M spec go together: sparse methods need one, dense takes none."""
    method = Method.parse(method)
    if method is Method.DENSE:
        if nm is not None:
            raise SparsityError(f"nm: {nm} given with method dense (expected no --nm, or a sparse method)")
        return method, None
    if nm is None:
        raise SparsityError(f"nm: missing for method {method.value} (expected an N:M spec like 2:8)")
    return method, NM.parse(nm)


def _short(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message about a garbage value stays short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
