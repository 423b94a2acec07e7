"""``python -m virtuoso_daemon.ctl``."""

import sys

from virtuoso_daemon.ctl.main import main

sys.exit(main())
