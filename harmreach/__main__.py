"""Allow ``python -m harmreach``."""

import sys

from harmreach.cli import main

sys.exit(main())
