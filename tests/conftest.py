"""Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default ``dev``).

- ``dev``: few examples, quick feedback while editing.
- ``ci``: derandomized (the same examples every run), no deadline, bounded examples;
  ``.ci/run`` selects it.
- ``thorough``: many examples, for release checks.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=20, **_common)
settings.register_profile("ci", max_examples=40, derandomize=True, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=1000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
