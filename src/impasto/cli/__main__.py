"""``python -m impasto.cli``: the command line."""

import sys

from impasto.cli import main

sys.exit(main())
