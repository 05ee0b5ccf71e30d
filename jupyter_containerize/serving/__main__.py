"""``python -m jupyter_containerize.serving serve``."""

import sys

from .server import main

if __name__ == "__main__":
    sys.exit(main())
