"""Self-checks of refimpl.mixers: VJPs, FNet's spectrum, External Attention, symmetries.

Every weight is in the package's ``(out, in)`` layout (``y = x W^T + b``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import numpy as np

from refimpl import mixers as mx
from refimpl.attention import scaled_dot_product_attention
from refimpl.gradcheck import numerical_vjp
from refimpl.selfcheck._core import Check, CheckResult

#: A mixer, its VJP and the arguments to check them at.
Case = tuple[Callable[..., np.ndarray], Callable[..., object], list[np.ndarray]]


def _normals(rng: np.random.Generator) -> Callable[..., np.ndarray]:
    """``r(*shape)``: standard normals of that shape from ``rng``."""
    return lambda *shape: rng.standard_normal(shape)


def _gmlp_params(p: tuple[np.ndarray, ...]) -> mx.GMLPParams:
    """aMLP parameters from the 10 gMLP arrays followed by the 4 tiny-attention arrays."""
    return mx.GMLPParams(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9],
                         mx.TinyAttentionParams(p[10], p[11], p[12], p[13]))


def _relative_vjp_error(f: Callable[..., np.ndarray], f_vjp: Callable[..., object],
                        args: list[np.ndarray], rng: np.random.Generator) -> float:
    """max |analytic - numeric| / max(1, |numeric|) over every argument."""
    cotangent = rng.standard_normal(np.shape(f(*args)))
    result = f_vjp(cotangent, *args)
    analytic = result if isinstance(result, tuple) else (result,)
    numeric = numerical_vjp(f, args, cotangent)
    return max(float(np.max(np.abs(a - n)) / max(1.0, float(np.max(np.abs(n)))))
               for a, n in zip(analytic, numeric, strict=True))


def _cases(rng: np.random.Generator) -> list[Case]:
    n, d = 3, 4
    x = rng.standard_normal((2, n, d))
    r = _normals(rng)
    flat = [np.ones(d), r(d), r(4, d), r(4), np.ones(2), r(2), r(n, n), r(n), r(d, 2), r(d),
            r(6, d), r(6), r(2, 2), r(2)]

    def gmlp_f(x: np.ndarray, *p: np.ndarray) -> np.ndarray:
        return mx.gmlp_block(x, _gmlp_params(p), True)

    def gmlp_vjp(g: np.ndarray, x: np.ndarray, *p: np.ndarray) -> tuple[object, ...]:
        gx, gp = mx.gmlp_block_vjp(g, x, _gmlp_params(p), True)
        attention = fields(gp.attention) if gp.attention is not None else ()
        return (gx, *[getattr(gp, f.name) for f in fields(gp)][:10], *[
            getattr(gp.attention, f.name) for f in attention])
    return [
        (mx.synthesizer_random, mx.synthesizer_random_vjp, [x, r(n, n), r(2, d), r(2)]),
        (mx.synthesizer_dense, mx.synthesizer_dense_vjp,
         [x, r(3, d), r(3), r(n, 3), r(n), r(2, d), r(2)]),
        (mx.fnet_mixing, mx.fnet_mixing_vjp, [x]),
        (mx.external_attention, mx.external_attention_vjp, [x, r(5, d), r(2, 5)]),
        (mx.token_mixing_mlp, mx.token_mixing_mlp_vjp, [x, r(3, n), r(3), r(n, 3), r(n)]),
        (gmlp_f, gmlp_vjp, [x, *flat]),
    ]


def vjps_agree(rng: np.random.Generator) -> CheckResult:
    """Relative VJP error of each mixer (the gMLP case is causal aMLP)."""
    errors = [_relative_vjp_error(f, f_vjp, args, rng) for f, f_vjp, args in _cases(rng)]
    return CheckResult(len(errors), max(errors), 1e-6, unit="rel")


def fnet_is_real_dft(rng: np.random.Generator) -> CheckResult:
    """FNet against explicit DFT matrices: Re(F_n X F_d) = C_n X C_d - S_n X S_d."""
    worst = 0.0
    for n, d in ((3, 5), (8, 4), (7, 7)):
        x = rng.standard_normal((2, n, d))
        angle = lambda m: 2 * np.pi * np.outer(np.arange(m), np.arange(m)) / m
        expected = np.cos(angle(n)) @ x @ np.cos(angle(d)) - np.sin(angle(n)) @ x @ np.sin(angle(d))
        worst = max(worst, float(np.max(np.abs(mx.fnet_mixing(x) - expected))))
    return CheckResult(3, worst, 1e-12, unit="abs")


def external_attention_two_step(rng: np.random.Generator) -> CheckResult:
    """External Attention against softmax-over-tokens followed by l1 over the slots."""
    worst = 0.0
    for n in (1, 4, 9):
        x, keys, values = rng.standard_normal((n, 3)), rng.standard_normal((6, 3)), \
            rng.standard_normal((2, 6))
        s = np.exp(x @ keys.T)
        s = s / s.sum(axis=0)
        expected = s / s.sum(axis=1, keepdims=True) @ values.T
        worst = max(worst, float(np.max(np.abs(mx.external_attention(x, keys, values) - expected))))
    return CheckResult(3, worst, 1e-12, unit="abs")


def permutation_symmetry(rng: np.random.Generator) -> CheckResult:
    """Attention and External Attention commute with a token permutation (worst error);
    a token-parameter mixer that also commuted would count as an error of 1."""
    n, d = 5, 3
    x, perm = rng.standard_normal((n, d)), rng.permutation(n)
    w = [rng.standard_normal((d, 3)) for _ in range(3)]
    keys, values = rng.standard_normal((4, d)), rng.standard_normal((2, 4))
    equivariant = [lambda z: scaled_dot_product_attention(z @ w[0], z @ w[1], z @ w[2]),
                   lambda z: mx.external_attention(z, keys, values)]
    worst = max(float(np.max(np.abs(f(x[perm]) - f(x)[perm]))) for f in equivariant)
    logits = 3 * rng.standard_normal((n, n))
    random_synth = mx.synthesizer_random(x[perm], logits, np.eye(d), np.zeros(d))
    if np.max(np.abs(random_synth - mx.synthesizer_random(x, logits, np.eye(d),
                                                          np.zeros(d))[perm])) < 1e-6:
        worst = 1.0
    return CheckResult(3, worst, 1e-12, unit="abs")


def causal_gmlp(rng: np.random.Generator) -> CheckResult:
    """Causal aMLP: changing tokens after i leaves outputs 0..i unchanged."""
    n, d = 5, 3
    r = _normals(rng)
    p = mx.GMLPParams(np.ones(d), r(d), r(4, d), r(4), np.ones(2), r(2), r(n, n), r(n), r(d, 2),
                      r(d), mx.TinyAttentionParams(r(6, d), r(6), r(2, 2), r(2)))
    x = r(n, d)
    worst = 0.0
    for i in range(n - 1):
        later = x.copy()
        later[i + 1:] += r(n - i - 1, d)
        change = mx.gmlp_block(later, p, causal=True) - mx.gmlp_block(x, p, causal=True)
        worst = max(worst, float(np.max(np.abs(change[: i + 1]))))
    return CheckResult(n - 1, worst, 1e-12, unit="abs")


CHECKS = [
    Check("mixers: VJPs agree with finite differences", vjps_agree),
    Check("mixers: FNet equals the real 2-D DFT", fnet_is_real_dft),
    Check("mixers: External Attention two-step form", external_attention_two_step),
    Check("mixers: permutation symmetry of attention", permutation_symmetry),
    Check("mixers: causal gMLP ignores later tokens", causal_gmlp),
]
