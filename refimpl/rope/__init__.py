"""Rotary position embedding (RoPE): frequencies, angles, the rotation and its backward.

One dimension: :func:`inv_freq` and the context-extension schedules give the
frequencies, :func:`angles` turns positions into rotation angles, :func:`apply` rotates
pairs of features (interleaved or half layout, partial rotary, optional magnitude and
change of basis) and :func:`apply_vjp` is its backward pass.
"""

from refimpl.rope.apply import (
    BASIS_ORTHOGONALITY_TOL,
    LAYOUTS,
    angles,
    angles_vjp,
    apply,
    apply_vjp,
    complex_form,
    elementwise_form,
    inv_freq_vjp,
    rotation_matrix,
)
from refimpl.rope.frequencies import inv_freq
