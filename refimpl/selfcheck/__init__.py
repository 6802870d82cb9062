"""``python -m refimpl check``: the library's self-verification.

Each module contributes a few quick property checks (a file in this package, each with
a plain ``CHECKS`` list); :data:`CHECKS` below is their concatenation, in the order the
table prints them.
"""

from refimpl.selfcheck import gradcheck
from refimpl.selfcheck import householder
from refimpl.selfcheck import similarity, univae
from refimpl.selfcheck import rope
from refimpl.selfcheck import rope_nd
from refimpl.selfcheck import dimension, mixers
from refimpl.selfcheck import testing
from refimpl.selfcheck import transformer
from refimpl.selfcheck import vmf
from refimpl.selfcheck import widening
from refimpl.selfcheck._core import Check, CheckResult, run_checks

CHECKS: list[Check] = [
    *gradcheck.CHECKS,
    *householder.CHECKS,
    *similarity.CHECKS,
    *univae.CHECKS,
    *rope.CHECKS,
    *rope_nd.CHECKS,
    *mixers.CHECKS,
    *dimension.CHECKS,
    *testing.CHECKS,
    *transformer.CHECKS,
    *vmf.CHECKS,
    *widening.CHECKS,
]

__all__ = ["CHECKS", "Check", "CheckResult", "run_checks"]
