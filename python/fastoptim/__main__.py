"""``python -m fastoptim``: the same as the ``fastoptim`` command."""

import sys

from .cli import main

sys.exit(main())
