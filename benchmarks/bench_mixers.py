"""Token mixers against their floors and peers, and the cost of evaluating h_n.

Mixers (batch 8, n = 128 tokens, d = 256 channels): FNet against ``numpy.fft.fft2`` (the
peer) and one multiply over the same array (the floor); the token MLP, the Synthesizer
and the MLP-Mixer block against the bare matrix products they contain; External
Attention against the straightforward two-step port; each VJP against its forward.
Weights are in the package's ``(out, in)`` layout, so every product is ``x @ W.T``.
Dimension formula: ``h_n`` by quadrature against the Bessel closed form (valid for
n <= ~5000 only), and the exact root ``n*`` against one ``h_n`` call.
"""

import numpy as np
from _timing import floor_multiply, median_time, print_table
from scipy.special import gammaln, ive

from refimpl import mixers as mx
from refimpl.dimension import h_n, minimum_dimension


def h_n_bessel(n):
    nu = n / 2 - 1
    return (gammaln(n / 2) + nu * np.log(2 / n) + np.log(ive(nu, n)) + n
            - n * ive(nu + 1, n) / ive(nu, n))


def mixer_block_times(rng, x, w1, b1, w2, b2):
    """Median times of one MLP-Mixer block and of its four matrix products alone."""
    d, c = x.shape[-1], 4 * x.shape[-1]
    ones, zeros = np.ones(d), np.zeros(d)
    cw1, cw2 = rng.standard_normal((c, d)) / np.sqrt(d), rng.standard_normal((d, c)) / np.sqrt(c)
    params = mx.MixerParams(ones, zeros, w1, b1, w2, b2, ones, zeros, cw1, np.zeros(c), cw2, zeros)
    xt = np.swapaxes(x, -1, -2)
    block = median_time(lambda: mx.mlp_mixer_block(x, params), repeat=5)
    matmuls = median_time(lambda: ((xt @ w1.T) @ w2.T, (x @ cw1.T) @ cw2.T), repeat=5)
    return block, matmuls


def mixer_rows(rng):
    b, n, d, h = 8, 128, 256, 256
    x = rng.standard_normal((b, n, d))
    w1, b1 = rng.standard_normal((h, n)) / np.sqrt(n), rng.standard_normal(h)
    w2, b2 = rng.standard_normal((n, h)) / np.sqrt(h), rng.standard_normal(n)
    logits, wv, bv = rng.standard_normal((n, n)), rng.standard_normal((d, d)) / 16, np.zeros(d)
    keys, values = rng.standard_normal((64, d)) / 16, rng.standard_normal((d, 64))
    multiply = floor_multiply(x.shape)
    fnet = median_time(lambda: mx.fnet_mixing(x))
    fft = median_time(lambda: np.fft.fft2(x).real)
    token = median_time(lambda: mx.token_mixing_mlp(x, w1, b1, w2, b2))
    xt = np.swapaxes(x, -1, -2)
    token_matmuls = median_time(lambda: (xt @ w1.T) @ w2.T)
    token_grad = median_time(lambda: mx.token_mixing_mlp_vjp(x, x, w1, b1, w2, b2), repeat=3)
    synth = median_time(lambda: mx.synthesizer_random(x, logits, wv, bv))
    synth_matmuls = median_time(lambda: logits @ (x @ wv.T))
    external = median_time(lambda: mx.external_attention(x, keys, values))
    scores = lambda: np.exp(x @ keys.T)
    two_step = lambda s: (s / s.sum(-2, keepdims=True)) / (s / s.sum(-2, keepdims=True)).sum(
        -1, keepdims=True) @ values.T
    external_port = median_time(lambda: two_step(scores()))
    external_grad = median_time(lambda: mx.external_attention_vjp(x[..., :64] @ values.T, x,
                                                                  keys, values), repeat=3)
    block, block_matmuls = mixer_block_times(rng, x, w1, b1, w2, b2)
    shape = f"{b}x{n}x{d}"
    return [
        (f"fnet_mixing / numpy.fft.fft2(x).real  [{shape}]", fnet / fft, "<= 1.5"),
        ("fnet_mixing / one multiply (floor)", fnet / multiply, "(context: fft cost)"),
        ("token_mixing_mlp / its two bare matmuls", token / token_matmuls, "<= 3"),
        ("token_mixing_mlp_vjp / forward (recomputes it)", token_grad / token, "<= 6"),
        ("synthesizer_random / softmax-free matmuls", synth / synth_matmuls, "<= 2"),
        ("mlp_mixer_block / its four bare matmuls (c = 4d)", block / block_matmuls, "<= 4"),
        ("external_attention / two-step port (S=64)", external / external_port, "<= 2"),
        ("external_attention_vjp / forward (recomputes it)", external_grad / external, "<= 6"),
    ]


def dimension_rows():
    single = median_time(lambda: h_n(512.0))
    bessel = median_time(lambda: h_n_bessel(512.0))
    large = median_time(lambda: h_n(10_000.0))
    grid = np.arange(2.0, 513.0)
    many = median_time(lambda: h_n(grid), repeat=3)
    root = median_time(lambda: minimum_dimension(1e5), repeat=3)
    return [
        ("h_n(512) / Bessel closed form (scipy ive)", single / bessel, "<= 100 (~1000 nodes)"),
        ("h_n(10^4) / h_n(512)  (nodes grow like sqrt n: 4.4)", large / single, "<= 6"),
        ("h_n(2..512, 511 values) / 511 x h_n(512)", many / (511 * single), "< 1 (vectorised)"),
        ("minimum_dimension(1e5) / h_n(512)", root / single, "<= 10 (Brent steps)"),
    ]


def main() -> None:
    rng = np.random.default_rng(0)
    print_table("token mixers (ratios of median times)", mixer_rows(rng))
    print_table("dimension formula", dimension_rows())


if __name__ == "__main__":
    main()
