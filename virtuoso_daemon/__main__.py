"""``python -m virtuoso_daemon`` runs the daemon."""

import sys

from virtuoso_daemon.process.cli import daemon_main

sys.exit(daemon_main())
