"""``python -m virtuoso_daemon`` runs the daemon."""

import sys

from .cli import daemon_main

sys.exit(daemon_main())
