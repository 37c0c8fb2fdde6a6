"""`python -m tools.smoke`: see tools/smoke/__init__.py."""

import sys

from tools.smoke.cli import main

sys.exit(main())
