"""Start-up cost of the numba kernels in a short-lived process (the CLI).

When the first jitted function loads from numba's on-disk cache, numba imports its implementation registries,
and one of them (`numba.np.arraymath`) probes for a BLAS by importing `scipy.linalg`: about a quarter of a
second, for a probe whose only effect is whether numba's own `np.dot`-based inner products call BLAS. hwsim's
kernels use none. `import_registries_without_scipy` imports that registry with scipy.linalg hidden, so the probe
answers "no BLAS" at once; scipy.linalg stays importable afterwards (numba's linear algebra still imports it when
a kernel needs it). Only for a process that owns its imports: the CLI calls it, the library does not.
"""
from __future__ import annotations

import sys


def import_registries_without_scipy() -> None:
    """Import numba's array-math registry with scipy.linalg hidden (nothing to do if either is already imported)."""
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    sys.modules["scipy.linalg"] = None  # `import scipy.linalg...` raises ImportError: the probe reports no BLAS
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]
