"""N:M specs and methods: the parser accepts exactly N:M with 0 < N < M and names everything else."""
from hypothesis import given
from hypothesis import strategies as st

from hwsim.dataflow.ops import Phase
from hwsim.dataflow.sparsity import NM, Method, SparsityError


@given(st.text(max_size=12))
def test_parser_never_crashes(text):
    try:
        nm = NM.parse(text)
    except SparsityError as err:
        assert str(err).startswith("nm: ") and "\n" not in str(err)
    else:
        assert 0 < nm.keep < nm.group and str(nm) == f"{nm.keep}:{nm.group}"


@given(st.integers(0, 64), st.integers(0, 64))
def test_valid_iff_n_below_m(n, m):
    try:
        nm = NM.parse(f"{n}:{m}")
    except SparsityError:
        assert not 0 < n < m or m < 2
    else:
        assert (nm.keep, nm.group) == (n, m) and nm.density == n / m


def test_methods_sparsify_the_phases_of_the_design_table():
    assert Method.DENSE.sparse_phases == frozenset()
    assert Method.SRSTE.sparse_phases == {Phase.FF}
    assert Method.BDWP.sparse_phases == Method.TRANSPOSABLE.sparse_phases == {Phase.FF, Phase.BP}
    assert Method.BDWP.masks_per_iteration == 2 and Method.TRANSPOSABLE.masks_per_iteration == 1
