"""The kernel decorator's ahead-of-time path: which calls the extension may take, and the JIT for the rest.

The extension checks no argument type (a wrong dtype is read as garbage, a list crashes the process), so
`_matches` is the only guard: each case below is one numba would type differently from the compiled signature.
"""
import numpy as np
import pytest

from hwsim.dataflow import jit
from hwsim.dataflow.jit import NativeKernel, _matches

I8 = ("int64", 1, "C")
F8_2D = ("float64", 2, "C")


def test_matching_arguments_take_the_compiled_signature():
    assert _matches((np.zeros(3, dtype=np.int64), np.zeros((2, 2)), 3, np.int64(4), 2.5, np.float64(1), True,
                     np.bool_(False)), (I8, F8_2D, "int64", "int64", "float64", "float64", "bool", "bool"))


@pytest.mark.parametrize("value, want", [
    (np.zeros(3, dtype=np.int32), I8),                        # another dtype
    (np.zeros(3), I8),                                        # float64 where int64 was compiled
    (np.zeros((3, 1), dtype=np.int64), I8),                   # another rank
    (np.zeros(6, dtype=np.int64)[::2], I8),                   # not contiguous
    (np.zeros((3, 3)).T, F8_2D),                              # Fortran order where C was compiled
    (np.zeros(3, dtype=np.int64).view(np.ndarray)[:0:-1], I8),  # negative stride
    ([0, 1, 2], I8),                                          # a list
    (np.ma.zeros(3, dtype=np.int64), I8),                     # an ndarray subclass
    (1.0, "int64"),                                           # a float where an int was compiled
    (True, "int64"),                                          # a bool is not an int64 to numba
    (np.int32(1), "int64"),
    (1, "float64"),                                           # an int where a float was compiled
    (np.float32(1), "float64"),
    (1, "bool"),
])
def test_any_other_type_goes_to_the_jit(value, want):
    assert not _matches((value,), (want,))


def test_a_read_only_array_goes_to_the_jit():
    a = np.zeros(3, dtype=np.int64)
    a.flags.writeable = False
    assert not _matches((a,), (I8,))


def test_the_argument_count_must_match():
    assert not _matches((1, 2), ("int64",))
    assert not _matches((1,), ("int64", "int64"))


def _twice(x):
    return 2 * x


_helper = NativeKernel(_twice, {}, ())  # a kernel with no compiled signature: always on the JIT


def _sum_twice(a):
    s = 0
    for v in a:
        s += _helper(v)
    return s


def test_calls_go_to_the_compiled_function_only_when_the_types_match():
    seen = []

    def compiled(a):  # stands in for the extension's function
        seen.append(a)
        return -1

    kernel = NativeKernel(_sum_twice, {}, [(compiled, (I8,))])
    assert kernel(np.arange(4, dtype=np.int64)) == -1 and len(seen) == 1
    assert kernel(np.arange(4, dtype=np.int32)) == 12 and len(seen) == 1  # numba's JIT, its helper jitted too
    assert kernel.__name__ == "_sum_twice" and kernel.py_func is _sum_twice


def test_the_jit_copy_sees_dispatchers_where_the_module_has_native_kernels():
    from numba.core.registry import CPUDispatcher

    dispatcher = NativeKernel(_sum_twice, {}, ()).jit()
    assert isinstance(dispatcher, CPUDispatcher)
    assert isinstance(dispatcher.py_func.__globals__["_helper"], CPUDispatcher)
    assert globals()["_helper"] is _helper  # the module itself is untouched


def test_a_process_with_a_kernel_on_the_jit_does_not_switch():
    jit.njit(_twice)  # this test process made kernels on the JIT
    assert jit.made_on_jit() and not jit.use({}) and not jit.using_native()
