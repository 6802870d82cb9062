"""Catalogue of user mistakes in refimpl.householder (issue #16): each wrong call raises the
stated exception with a message that names the argument and, where a LAPACK or PyTorch
habit explains the mistake, says the fix; valid but unusual inputs work and stay finite."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl import householder as hh

V4, TAU2, X43 = np.ones((4, 2)) * 0.5, np.ones(2), np.ones((4, 3))
E0, E1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])

MISTAKES = [
    # (call, exception, regex the message must match)
    (lambda: hh.reflect([1.0, 2.0], [0.0, 0.0]), ValueError,
     r"^v must not contain a zero vector"),
    (lambda: hh.reflect([1.0, 2.0, 3.0], [1.0, 0.0]), ValueError,
     r"^x and v must have the same last dimension, got shapes \(3,\) and \(2,\)"),
    (lambda: hh.reflect("abc", [1.0]), TypeError, r"^x must hold real numbers"),
    # a forgotten normalisation: the message says which function fixes it
    (lambda: hh.householder_map([1.0, 2.0], [3.0, 4.0], E1), ValueError,
     r"^a must be unit vectors.*normalize\(a\)"),
    (lambda: hh.rotation_map([1.0, 2.0], E0, [0.0, 2.0]), ValueError,
     r"^b must be unit vectors.*normalize\(b\)"),
    (lambda: hh.reflect(np.ones((2, 3)), np.ones(3), out=np.empty((2, 3), np.float32)),
     TypeError, r"^out must be a float64 numpy array"),
    (lambda: hh.reflect(np.ones((2, 3)), np.ones(3), out=np.empty((3, 2))), ValueError,
     r"^out must be a writeable C-contiguous array of shape \(2, 3\)"),
    # V of a wide matrix's QR passed to xORGQR semantics: the fix is to slice, or to apply Q
    (lambda: hh.householder_product(np.ones((3, 4)), np.ones(2)), ValueError,
     r"^V must have at least as many rows as columns .*V\[\.\.\., :, :m\].*householder_apply"),
    (lambda: hh.householder_product(np.ones((4, 2)), np.ones(3)), ValueError,
     r"^tau must hold at most n = 2"),
    (lambda: hh.householder_qr(np.ones(3)), ValueError, r"^A must have at least 2 dimensions"),
    (lambda: hh.normalize([0.0, 0.0]), ValueError, r"^x must not contain a zero vector"),
    # LAPACK's side="L" and torch.ormqr's left=True
    (lambda: hh.householder_apply(V4, TAU2, X43, side="L"), ValueError,
     r"^side must be one of 'left', 'right', got 'L' \(LAPACK's side='L'/'R'"),
    (lambda: hh.householder_apply(V4, TAU2, X43, side=True), ValueError,
     r"^side must be .*got True .*torch.ormqr's left=True/False are side='left'/'right'"),
    # LAPACK's trans="T"
    (lambda: hh.householder_apply(V4, TAU2, X43, transpose="T"), TypeError,
     r"^transpose must be True or False, got 'T' \(LAPACK's trans='T' is transpose=True\)"),
    # X the wrong way round for the side
    (lambda: hh.householder_apply(V4, TAU2, X43.T), ValueError,
     r"^X must have 4 rows \(side='left': Q is 4 x 4"),
    (lambda: hh.householder_apply(V4, TAU2, X43, side="right"), ValueError,
     r"^X must have 4 columns \(side='right'"),
    (lambda: hh.householder_apply(V4, np.ones(3), X43), ValueError,
     r"^tau must hold at most min\(r, c\) = 2 scalars"),
    (lambda: hh.householder_apply_vjp(np.ones((3, 4)), V4, TAU2, X43), ValueError,
     r"^grad must have the output's shape \(4, 3\), got shape \(3, 4\)"),
    (lambda: hh.reflect_vjp(np.ones(2), np.ones(3), np.ones(3)), ValueError,
     r"^grad must have the output's shape \(3,\)"),
    (lambda: hh.householder_product_vjp(np.ones((4, 2)), np.full((4, 2), np.nan), TAU2),
     ValueError, r"^V must be finite"),
]


@pytest.mark.parametrize("call, exception, message", MISTAKES)
def test_mistake_is_reported(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


UNUSUAL = [
    # nested lists and ints
    lambda: hh.reflect([[1, 2], [3, 4]], [0, 1]),
    lambda: hh.householder_product([[1, 0], [2, 1], [3, 4]], [1, 0]),
    lambda: hh.householder_apply([[1, 0], [2, 1]], [1], [[1, 2, 3], [4, 5, 6]]),
    # tau of length 0: Q = I
    lambda: hh.householder_apply(np.ones((3, 2)), np.zeros(0), np.ones((3, 1))),
    lambda: hh.householder_product_vjp(np.ones((3, 2)), np.ones((3, 2)), np.zeros(0)),
    # a wide V (QR of a 2 x 5 matrix) for apply; k = min(r, c)
    lambda: hh.householder_apply(*hh.householder_qr(np.arange(10.0).reshape(2, 5)),
                                 np.ones((2, 3))),
    # broadcasting batch dimensions and a numpy bool for transpose
    lambda: hh.householder_apply(np.ones((2, 1, 4, 2)), np.ones((3, 2)), np.ones((4, 5)),
                                 transpose=np.True_),
    lambda: hh.reflect(np.ones((5, 1, 3)), np.ones((2, 3))),
    # 0-d scalars inside lists, a one-dimensional space (H = -1)
    lambda: hh.reflect([np.float64(5.0)], [np.int64(-2)]),
    # huge and tiny normals
    lambda: hh.reflect([1.0, 2.0], [1e-300, 3e-300]),
    lambda: hh.reflect([1.0, 2.0], [1e300, -3e300]),
]


@pytest.mark.parametrize("call", UNUSUAL)
def test_unusual_but_valid_input_works(call):
    result = call()
    parts = result if isinstance(result, tuple) else (result,)
    assert all(np.all(np.isfinite(part)) for part in parts)


def test_unusual_values():
    assert hh.reflect([np.float64(5.0)], [np.int64(-2)]).tolist() == [-5.0]
    assert np.allclose(hh.reflect([1.0, 2.0], [1e-300, 0.0]), [-1.0, 2.0], rtol=0, atol=1e-15)
    Q = hh.householder_apply(*hh.householder_qr(np.arange(10.0).reshape(2, 5)), np.eye(2))
    assert np.allclose(Q.T @ Q, np.eye(2), rtol=0, atol=1e-14)
    assert np.array_equal(hh.householder_apply(np.ones((3, 2)), np.zeros(0), np.ones((3, 1))),
                          np.ones((3, 1)))
    batched = hh.householder_apply(np.ones((2, 1, 4, 2)), np.ones((3, 2)), np.ones((4, 5)),
                                   transpose=np.True_)
    assert batched.shape == (2, 3, 4, 5)
