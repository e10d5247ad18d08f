"""``python -m impasto …`` is the ``impasto`` command."""

import sys

from impasto.cli import main

sys.exit(main())
