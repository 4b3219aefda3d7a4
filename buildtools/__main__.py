"""`python -m buildtools` runs the CLI."""

import sys

from buildtools.cli import main

sys.exit(main())
