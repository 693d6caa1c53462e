"""``python -m stepreward`` is the ``stepreward`` command."""

import sys

from .cli import main

sys.exit(main())
