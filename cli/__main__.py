"""`python -m scalezoo.cli ...`: the same as the `scalezoo` command."""

import sys

from scalezoo.cli import main

sys.exit(main())
