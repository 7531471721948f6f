from __future__ import annotations

import sys

from testproject.demo.main import main

try:
    sys.exit(main())
except KeyboardInterrupt:  # Ctrl-C before the demo's own handlers were installed
    sys.exit(130)
