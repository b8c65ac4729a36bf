"""``python -m thermal``: the same program as the ``thermal`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
