"""`python -m vsnative`."""

import sys

from vsnative.cli import main

sys.exit(main())
