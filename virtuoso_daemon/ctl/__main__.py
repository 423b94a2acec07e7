"""``python -m virtuoso_daemon.ctl``."""

import sys

from .main import main

sys.exit(main())
