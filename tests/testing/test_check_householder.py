"""check_householder_product and check_orthogonal_map on refimpl, LAPACK, and broken ports."""

import numpy as np
import pytest
from scipy.linalg import lapack

from refimpl.householder import (
    householder_map,
    householder_product,
    rotation_map,
    stable_map,
    symmetric_map,
)
from refimpl.testing import check_householder_product, check_orthogonal_map


def test_refimpl_householder_product_passes():
    report = check_householder_product(householder_product)
    assert report.passed, str(report)


def test_lapack_dorgqr_passes_as_a_foreign_function():
    report = check_householder_product(lambda V, tau: lapack.dorgqr(V, tau)[0])
    assert report.passed, str(report)


def test_one_tau_negated_is_caught_and_named():
    def negated(V, tau):
        tau = np.array(tau, dtype=np.float64)
        tau[-1] = -tau[-1]
        return householder_product(V, tau)

    report = check_householder_product(negated)
    assert not report.passed
    assert any("negated (sign error on one reflector coefficient)" in f for f in report.faults)


def dense_loop(V, tau, *, reverse=False, read_diagonal=False):
    """A straightforward port: multiply dense reflectors."""
    m, n = V.shape
    Y = np.tril(V[:, :len(tau)], 0 if read_diagonal else -1)
    if not read_diagonal:
        Y[np.arange(len(tau)), np.arange(len(tau))] = 1.0
    Q = np.eye(m)
    for i in (reversed(range(len(tau))) if reverse else range(len(tau))):
        Q = Q @ (np.eye(m) - tau[i] * np.outer(Y[:, i], Y[:, i]))
    return Q[:, :n]


def test_straightforward_port_passes_and_its_mistakes_are_named():
    assert check_householder_product(dense_loop).passed
    reverse = check_householder_product(lambda V, t: dense_loop(V, t, reverse=True))
    assert any("reverse order" in f for f in reverse.faults), str(reverse)
    diagonal = check_householder_product(lambda V, t: dense_loop(V, t, read_diagonal=True))
    assert not diagonal.row("diagonal and upper triangle of V ignored").passed
    assert any("diagonal of V read" in f for f in diagonal.faults)


def test_wrong_output_shape_is_reported():
    report = check_householder_product(lambda V, tau: dense_loop(V, tau, )[:, :1])
    assert not report.passed and "first n columns" in str(report)


@pytest.mark.parametrize("fn, name", [
    (householder_map, "Householder reflection"),
    (rotation_map, "rotation in span(a, b)"),
    (symmetric_map, "symmetric form"),
    (stable_map, "stable_map"),
])
def test_refimpl_maps_pass_and_are_identified(fn, name):
    report = check_orthogonal_map(fn)
    assert report.passed, str(report)
    assert name in report.identified["map"]


def test_determinants_are_reported():
    assert check_orthogonal_map(rotation_map).identified["determinants (random pairs)"] == [1]
    assert check_orthogonal_map(householder_map).identified["determinants (random pairs)"] == [-1]


def test_rotation_losing_orthogonality_near_opposite_vectors_is_caught():
    """``I + 2 b a^T - 2 w w^T`` with ``w = (a+b)/|a+b|`` loses orthogonality as b -> -a."""
    def explicit_rotation(x, a, b):
        w = (a + b) / np.linalg.norm(a + b)
        return x + 2 * (x @ a)[..., None] * b - 2 * (x @ w)[..., None] * w

    report = check_orthogonal_map(explicit_rotation, dims=(3, 5))
    row = report.row("orthogonality T^T T = I")
    assert not row.passed and "nearly opposite" in row.detail


def test_matrix_form_is_accepted():
    from refimpl.householder import stable_map_matrix
    assert check_orthogonal_map(stable_map_matrix, form="matrix").passed


def test_epsilon_regularised_reflection_is_caught():
    """s-vae-pytorch / power_spherical (nicola-decao) normalise with ``|a - b| + eps``:
    not orthogonal."""
    def regularised(x, a, b):
        u = (a - b) / (np.linalg.norm(a - b) + 1e-5)
        return x - 2 * (x @ u)[..., None] * u

    report = check_orthogonal_map(regularised)
    assert not report.row("orthogonality T^T T = I").passed
    assert report.identified["map"] == "not an orthogonal map"


def test_naive_reflection_fails_at_equal_vectors():
    """``u = (a - b)/|a - b|`` without a degenerate branch gives NaN at ``a = b``."""
    def naive(x, a, b):
        with np.errstate(invalid="ignore"):
            u = (a - b) / np.linalg.norm(a - b)
        return x - 2 * (x @ u)[..., None] * u

    report = check_orthogonal_map(naive)
    row = report.row("finite output of the right shape")
    assert not row.passed and "equal" in row.detail


def test_bad_form_raises():
    with pytest.raises(ValueError, match="form"):
        check_orthogonal_map(stable_map, form="dense")
