from __future__ import annotations

import sys

from testproject.demo.main import main

sys.exit(main())
