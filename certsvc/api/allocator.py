"""The C allocator of a threaded server: few malloc arenas, so memory freed is memory reused.

glibc gives each thread that meets lock contention an arena of its own, up to eight per core.
Requests run on the thread pool (up to 40 threads), and rendering, sealing and validating a
licence allocate tens of megabytes of short-lived C and Python memory; spread over many arenas,
what one burst frees stays fragmented in arenas the next burst's threads do not reuse. Measured
with ``bench/server_memory.py``: one server grew to ~780 MB after bursts of 32 concurrent issues
with glibc's default, and stays near 360 MB with two arenas, at the same throughput (the work is
CPU-bound under the GIL, so arena contention costs nothing measurable).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["ARENA_ENV", "DEFAULT_ARENAS", "limit_malloc_arenas"]

ARENA_ENV = "MALLOC_ARENA_MAX"
DEFAULT_ARENAS = 2
_M_ARENA_MAX = -8  # glibc malloc.h


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap this process's malloc arenas (and, through the environment, its children's).

    An operator's own ``MALLOC_ARENA_MAX`` is left as it is (glibc read it at start-up). Returns
    whether a cap is in force; False where the C library has no ``mallopt`` (not glibc).
    """
    if os.environ.get(ARENA_ENV):
        return True
    os.environ[ARENA_ENV] = str(arenas)  # worker processes read it when they start
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
