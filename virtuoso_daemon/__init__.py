"""Virtuoso: crypto market intelligence daemon."""

import os

# The analytics are many small matrix products inside a busy event loop; OpenBLAS's
# worker threads spin on a 2-core box and made a 18 ms recompute take up to 570 ms
# (scripts/bench_analytics.py). One BLAS thread unless the operator says otherwise.
# This must happen before numpy is first imported, hence here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

# ccxt's package __init__ imports every exchange it has (~75 MB); the daemon needs one
# or two. Must run before anything imports ccxt: see ccxt_import.
from virtuoso_daemon.core import ccxt_import as _ccxt_import

_ccxt_import.install()
