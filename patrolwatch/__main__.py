"""Allow ``python -m patrolwatch``."""

import sys

from patrolwatch.cli import main

sys.exit(main())
