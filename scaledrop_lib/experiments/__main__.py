"""``python -m scaledrop_lib.experiments``: the ``scaledrop`` command."""

import sys

from scaledrop_lib.experiments.cli import main

sys.exit(main())
