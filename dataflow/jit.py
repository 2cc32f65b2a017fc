"""`njit`, the decorator of hwsim's numba kernels: numba's own, or the kernel compiled ahead of time.

A library process gets numba's `njit` unchanged. A short-lived process (the CLI's `simulate`) may hand `use` the
kernels that `hwsim.engine.native` compiled ahead of time, before any kernel module is imported: each kernel then
runs from that extension and numba is never imported (its import and the loading of its cached kernels are about
0.6 s of a 1 s command). A call whose argument types the extension was not compiled for goes to numba's JIT,
exactly as in a library process. It lives in the lowest room that has kernels (dataflow) so every kernel module
can import it; it does not import numba.
"""
import functools
import types

import numpy as np

_exports = None  # while the process uses the extension: {"module.function": [(compiled function, arg types)]}
_on_jit = False  # whether a kernel was made with numba's njit in this process


def njit(fn=None, **options):
    """`numba.njit(**options)`, or after `use` a `NativeKernel` (same call, same results)."""
    def decorate(f):
        global _on_jit
        if _exports is None:
            import numba

            _on_jit = True
            return numba.njit(**options)(f)
        return NativeKernel(f, options, _exports.get(f"{f.__module__}.{f.__qualname__}", ()))
    return decorate if fn is None else decorate(fn)


def use(exports: dict) -> bool:
    """Run the kernels from `exports` ({"module.function": [(compiled function, argument types)]}) unless a
    kernel was already made on the JIT (mixing would hand numba a kernel it cannot type). True if now in use."""
    global _exports
    if _on_jit:
        return False
    _exports = exports
    return True


def using_native() -> bool:
    return _exports is not None


def made_on_jit() -> bool:
    return _on_jit


class NativeKernel:
    """A kernel whose compiled argument types run in the extension; any other call goes to numba's JIT."""

    def __init__(self, fn, options: dict, exports):
        functools.update_wrapper(self, fn)
        self.py_func = fn
        self._options = options
        self._exports = tuple(exports)
        self._jitted = None

    def __call__(self, *args):
        for compiled, arg_types in self._exports:
            if _matches(args, arg_types):
                return compiled(*args)
        return self.jit()(*args)

    def jit(self):
        """The numba dispatcher of this kernel, the kernels it calls swapped for dispatchers too (numba types those,
        not a NativeKernel). The copy has the original's code and file, so numba's on-disk cache still applies."""
        if self._jitted is None:
            import numba

            fn = self.py_func
            scope = dict(fn.__globals__)
            for name in _global_names(fn.__code__):
                if isinstance(scope.get(name), NativeKernel):
                    scope[name] = scope[name].jit()
            copy = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
            copy.__qualname__, copy.__module__ = fn.__qualname__, fn.__module__
            self._jitted = numba.njit(**self._options)(copy)
        return self._jitted


def _global_names(code) -> set:
    """The global names a function's code (and any code nested in it) may read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _matches(args: tuple, arg_types: tuple) -> bool:
    """Whether numba would type `args` as `arg_types` (the extension checks nothing: a wrong dtype is read as
    garbage, a list crashes the process)."""
    if len(args) != len(arg_types):
        return False
    for value, want in zip(args, arg_types):
        if isinstance(want, tuple):  # (dtype, ndim, layout) of a writeable, aligned array
            dtype, ndim, layout = want
            if type(value) is not np.ndarray or value.dtype.name != dtype or value.ndim != ndim:
                return False
            flags = value.flags
            if not (flags.writeable and flags.aligned) or (layout == "C" and not flags.c_contiguous) or (
                    layout == "F" and not flags.f_contiguous):
                return False
        elif _SCALARS.get(type(value)) != want:
            return False
    return True


# Python and numpy scalars as numba types them (a Python int as int64)
_SCALARS = {int: "int64", np.int64: "int64", float: "float64", np.float64: "float64", bool: "bool", np.bool_: "bool"}
