"""Allow ``python -m tfg_lib.pipeline``, the same as ``tfg-run``."""

import sys

from .cli import main

sys.exit(main())
