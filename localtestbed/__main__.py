"""``python3 -m localtestbed``: what ``scripts/testbed`` runs once the packages are there."""

from __future__ import annotations

import sys

from localtestbed.cli import main

sys.exit(main())
