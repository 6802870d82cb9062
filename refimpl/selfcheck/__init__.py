"""``python -m refimpl check``: the library's self-verification.

Each module contributes a few quick property checks (a file in this package, each with
a plain ``CHECKS`` list); :data:`CHECKS` below is their concatenation, in the order the
table prints them.
"""

from refimpl.selfcheck import (
    dimension,
    gradcheck,
    householder,
    householder_apply,
    mixers,
    rope,
    rope_hf,
    rope_nd,
    similarity,
    testing,
    transformer,
    transformer_decoding,
    univae,
    vmf,
    widening,
)
from refimpl.selfcheck._core import Check, CheckResult, run_checks

CHECKS: list[Check] = [
    *gradcheck.CHECKS,
    *householder.CHECKS,
    *householder_apply.CHECKS,
    *rope.CHECKS,
    *rope_nd.CHECKS,
    *rope_hf.CHECKS,
    *vmf.CHECKS,
    *transformer.CHECKS,
    *transformer_decoding.CHECKS,
    *widening.CHECKS,
    *univae.CHECKS,
    *similarity.CHECKS,
    *mixers.CHECKS,
    *dimension.CHECKS,
    *testing.CHECKS,
]

__all__ = ["CHECKS", "Check", "CheckResult", "run_checks"]
