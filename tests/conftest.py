"""Shared pytest set-up: Hypothesis profiles.

``make test`` is a gate that must give the same answer on every clone, so by default Hypothesis
draws the same examples every run (``derandomize``) and keeps no example database. To hunt for
new failures, run with fresh random examples:

    HYPOTHESIS_PROFILE=explore .venv/bin/python -m pytest tests/test_reliability_api.py

and turn any failure it prints into a named regression test.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
