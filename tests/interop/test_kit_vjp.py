"""The kit's backward checks on real autograd: torch.linalg.householder_product and its
backward, a torch RoPE through torch.autograd, a JAX RoPE through jax.vjp."""

from functools import partial

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refimpl.householder import (  # noqa: E402
    householder_product,
    householder_product_vjp,
    householder_qr,
)
from refimpl.rope import apply, apply_vjp  # noqa: E402
from refimpl.testing import check_householder_product, check_vjp  # noqa: E402

RNG = np.random.default_rng(18)


def torch_vjp(f, scale=1.0, negate=()):
    """``vjp(cotangent, *args)`` of a torch function by ``torch.autograd.grad``;
    ``scale`` and ``negate`` (argument indices) plant a factor or a sign error."""
    def vjp(cotangent, *args):
        leaves = [a.detach().clone().requires_grad_(True) for a in args]
        grads = torch.autograd.grad(f(*leaves), leaves, cotangent)
        return tuple(-scale * g if i in negate else scale * g for i, g in enumerate(grads))

    return vjp


def test_torch_householder_product_forward():
    assert check_householder_product(torch.linalg.householder_product,
                                     framework="torch").passed


@pytest.mark.parametrize("shape", [(7, 4), (16, 8), (64, 32)])
def test_torch_householder_product_backward_on_qr_reflectors(shape):
    """Reflectors from a QR factorisation (orthogonal H_i, the documented use)."""
    V, tau = householder_qr(RNG.standard_normal(shape))
    report = check_vjp(torch.linalg.householder_product,
                       torch_vjp(torch.linalg.householder_product), [V, tau],
                       reference=(householder_product, householder_product_vjp),
                       framework="torch")
    assert report.passed, str(report)


def test_torch_householder_product_backward_with_random_tau_meets_the_new_tolerance():
    """Issue #18 item 2: with random tau (7, 4) torch's backward was tens of eps off, ordinary
    round-off; the old 16 eps max(1, |g|) failed it. The tolerance now has the size factor
    sqrt(28) and the conditioning at the inputs (reference moved by eps perturbations)."""
    V, tau = np.random.default_rng(3).standard_normal((7, 4)), np.array([0.3, 1.7, 0.9, 1.4])
    report = check_vjp(torch.linalg.householder_product,
                       torch_vjp(torch.linalg.householder_product), [V, tau],
                       reference=(householder_product, householder_product_vjp),
                       framework="torch")
    assert report.passed, str(report)
    assert report.identified["output size (sum length)"] == 28
    cotangent = np.random.default_rng(0).standard_normal((7, 4))  # the check's rng=0 draw
    expected = householder_product_vjp(cotangent, V, tau)
    old = [16 * 2.0**-52 * max(1.0, float(np.max(np.abs(e)))) for e in expected]
    assert report.rows[1].measured > old[0]  # the old tolerance would have failed it


@pytest.mark.parametrize("plant, phrase", [
    ({"negate": (1,)}, "gradient of argument 1 has the wrong sign"),
    ({"scale": 2.0}, "is 2 x the reference"),
])
def test_torch_backward_with_a_planted_fault(plant, phrase):
    V, tau = RNG.standard_normal((6, 3)), RNG.uniform(0.2, 1.8, 3)
    report = check_vjp(torch.linalg.householder_product,
                       torch_vjp(torch.linalg.householder_product, **plant), [V, tau],
                       reference=(householder_product, householder_product_vjp),
                       framework="torch")
    assert not report.passed and any(phrase in f for f in report.faults), str(report)


def _torch_rope(x, angles):
    cos, sin = torch.cos(angles).repeat(1, 2), torch.sin(angles).repeat(1, 2)
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[:, half:], x[:, :half]], dim=-1) * sin


def test_torch_autograd_of_a_rope_against_refimpl_apply_vjp():
    x, angles = RNG.standard_normal((5, 8)), RNG.standard_normal((5, 4))
    reference = (partial(apply, layout="half"), partial(apply_vjp, layout="half"))
    report = check_vjp(_torch_rope, torch_vjp(_torch_rope), [x, angles], reference=reference,
                       framework="torch")
    assert report.passed, str(report)
    # and against central differences of the torch forward, in float32
    assert check_vjp(_torch_rope, torch_vjp(_torch_rope), [x, angles], dtype="float32",
                     framework="torch").passed


def test_jax_vjp_of_a_rope_against_refimpl_apply_vjp():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def jax_rope(x, angles):
        emb = jnp.concatenate([angles, angles], axis=-1)
        half = x.shape[-1] // 2
        return x * jnp.cos(emb) + jnp.concatenate([-x[:, half:], x[:, :half]], -1) * jnp.sin(emb)

    def jax_rope_vjp(cotangent, x, angles):
        return jax.vjp(jax_rope, x, angles)[1](cotangent)

    x, angles = RNG.standard_normal((5, 8)), RNG.standard_normal((5, 4))
    reference = (partial(apply, layout="half"), partial(apply_vjp, layout="half"))
    report = check_vjp(jax_rope, jax_rope_vjp, [x, angles], reference=reference,
                       dtype="float32", framework="jax")
    assert report.passed, str(report)
    wrong = check_vjp(jax_rope, lambda g, x, a: jax_rope_vjp(-g, x, a), [x, angles],
                      reference=reference, dtype="float32", framework="jax")
    assert len(wrong.faults) == 2 and all("wrong sign" in f for f in wrong.faults)
