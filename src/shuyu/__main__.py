"""``python -m shuyu``: the same as the ``shuyu`` command."""

import sys

from shuyu.cli import main

sys.exit(main())
