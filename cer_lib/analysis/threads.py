"""One BLAS thread for the small models of the analysis (threadpoolctl, when installed)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

try:  # optional: installed with scikit-learn; not a declared dependency of cer_lib
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - depends on the environment
    threadpool_limits = None

__all__ = ["single_blas_thread"]


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread (restored afterwards) when threadpoolctl is available.

    The models here use small matrices: BLAS threads only add overhead, and they spin badly when the
    CPUs are shared (measured 7-10x slower on a loaded 2-core machine).
    """
    if threadpool_limits is None:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
