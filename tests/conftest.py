"""Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default ``dev``).

- ``dev``: few examples, randomized: quick feedback while editing. Pass
  ``--hypothesis-seed=N`` to replay a run.
- ``ci``: derandomized (the same examples every run), bounded examples; ``.ci/run``
  selects it.
- ``thorough``: many examples, for release checks.

Every profile: no deadline (timing noise on a loaded machine must never fail a test),
and a failure prints the blob that reproduces it (``@reproduce_failure``). With the
environment variable ``CI`` set (``.ci/run`` sets it) there is no example database, so a
fresh CI run never replays examples saved by an earlier one.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
if os.environ.get("CI"):
    _common["database"] = None
settings.register_profile("dev", max_examples=20, **_common)
settings.register_profile("ci", max_examples=40, derandomize=True, **_common)
settings.register_profile("thorough", max_examples=1000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
