"""NumPy stand-ins for foreign framework functions, correct and deliberately broken.

Each builder returns a function written the way a PyTorch/JAX user would write it
(cos/sin tables, ``rotate_half``, a float32 angle computation...), independently of
refimpl, so the conformance kit can be tested without any framework installed.
"""

import numpy as np


def numpy_rope(inv_freq, *, layout="half", start=0, offset=0.0, magnitude=1.0,
               angle_dtype=np.float64):
    """A framework-style RoPE ``fn(x, positions)`` over frequency matrix ``inv_freq``.

    ``inv_freq`` is ``(P,)`` for 1-D positions or ``(n_axes, P)`` for N-D positions.
    ``angle_dtype=np.float32`` computes positions, frequencies and angles in float32 (the
    Hugging Face / Meta habit); ``offset`` shifts every position (an off-by-one bug).
    """
    freq = np.atleast_2d(np.asarray(inv_freq, dtype=np.float64)).astype(angle_dtype)
    rotary = 2 * freq.shape[1]

    def rope(x, positions):
        pos = np.asarray(positions).astype(angle_dtype)
        pos = pos[:, None] if pos.ndim == 1 else pos
        phi = ((pos + angle_dtype(offset)) @ freq).astype(angle_dtype)
        block = x[:, start:start + rotary]
        if layout == "half":
            emb = np.concatenate([phi, phi], axis=-1)
            half = rotary // 2
            rotated = np.concatenate([-block[:, half:], block[:, :half]], axis=-1)
        else:
            emb = np.repeat(phi, 2, axis=-1)
            rotated = np.stack([-block[:, 1::2], block[:, ::2]], axis=-1).reshape(block.shape)
        cos = np.cos(emb).astype(np.float64) * magnitude
        sin = np.sin(emb).astype(np.float64) * magnitude
        out = np.array(x, dtype=np.float64)
        out[:, start:start + rotary] = block * cos + rotated * sin
        return out

    return rope


def default_inv_freq(rotary_dim, base=10000.0):
    """``1 / base^(2k/R)`` written out, as frameworks do."""
    return 1.0 / base ** (np.arange(0, rotary_dim, 2) / rotary_dim)


def wood_sampler(*, envelope="exact", project_tangent=True):
    """Wood's (1994) vMF sampler ``fn(mu, kappa, n, seed)``, written independently of refimpl.

    ``envelope="svae"`` uses s-vae-pytorch's approximate ``b = (d-1)/(4 kappa)`` for
    ``kappa >= 11`` (blended for 10 < kappa < 11), which is wrong when ``kappa < d``;
    ``project_tangent=False`` skips projecting the Gaussian tangent direction off ``mu``
    (the StackExchange recipe).
    """
    def sample(mu, kappa, n, seed):
        rng = np.random.default_rng(seed)
        mu = np.asarray(mu, dtype=np.float64)
        d = mu.size
        m1 = d - 1.0
        b = m1 / (2 * kappa + np.sqrt(4 * kappa**2 + m1**2))
        if envelope == "svae":
            s = min(max(kappa - 10.0, 0.0), 1.0)
            b = s * (m1 / (4 * kappa)) + (1 - s) * b
        x0 = (1 - b) / (1 + b)
        c = kappa * x0 + m1 * np.log(1 - x0**2)
        w = np.empty(0)
        while w.size < n:
            z = rng.beta(m1 / 2, m1 / 2, size=2 * n)
            cand = (1 - (1 + b) * z) / (1 - (1 - b) * z)
            u = rng.uniform(size=2 * n)
            keep = kappa * cand + m1 * np.log(1 - x0 * cand) - c >= np.log(u)
            w = np.concatenate([w, cand[keep]])
        w = w[:n]
        v = rng.standard_normal((n, d))
        if project_tangent:
            v -= np.outer(v @ mu, mu)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return w[:, None] * mu + np.sqrt(np.clip(1 - w**2, 0, None))[:, None] * v

    return sample


#: Module-level foreign functions for the command-line tests (``kit_standins:NAME``).
hf_rope_64 = numpy_rope(default_inv_freq(64))
hf_rope_64_off_by_one = numpy_rope(default_inv_freq(64), offset=1.0)


def bfloat16(values):
    """Round to bfloat16 (round to nearest even on the top 16 bits of float32), as float32."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def bf16_angle_rope(inv_freq):
    """Half-layout RoPE whose positions, frequencies and angles are rounded to bfloat16."""
    freq = bfloat16(inv_freq)
    half = freq.size

    def rope(x, positions):
        phi = bfloat16(bfloat16(positions)[:, None] * freq).astype(np.float64)
        emb = np.concatenate([phi, phi], axis=-1)
        block = x[:, :2 * half]
        rotated = np.concatenate([-block[:, half:], block[:, :half]], axis=-1)
        out = np.array(x, dtype=np.float64)
        out[:, :2 * half] = block * np.cos(emb) + rotated * np.sin(emb)
        return out

    return rope


def xpos_pair(dim, *, scale_base=512.0, center=0.0, invert_keys=True):
    """lucidrains-style xPos ``fn(q, k, positions)``: interleaved RoPE, queries scaled by
    ``zeta^(power)``, keys by ``zeta^(-power)`` (``invert_keys=False`` forgets the inverse)."""
    rope = numpy_rope(default_inv_freq(dim), layout="interleaved")
    zeta = (np.arange(0, dim, 2) + 0.4 * dim) / (1.4 * dim)

    def apply(q, k, positions):
        power = (np.asarray(positions, dtype=np.float64) - center) / scale_base
        scale = np.repeat(zeta[None, :] ** power[:, None], 2, axis=-1)
        return rope(q, positions) * scale, rope(k, positions) * (1 / scale if invert_keys
                                                                 else scale)

    return apply


def hf_bf16_rope(inv_freq):
    """Hugging Face's bfloat16 path: float32 ``inv_freq`` and angles, cos/sin rounded to
    bfloat16, each product and the sum of ``x cos + rotate_half(x) sin`` rounded too."""
    freq = np.asarray(inv_freq, dtype=np.float32)
    half = freq.size

    def rope(x, positions):
        phi = np.asarray(positions, dtype=np.float32)[:, None] * freq
        emb = np.concatenate([phi, phi], axis=-1)
        cos, sin = bfloat16(np.cos(emb)), bfloat16(np.sin(emb))
        block = bfloat16(x[:, :2 * half])
        rotated = np.concatenate([-block[:, half:], block[:, :half]], axis=-1)
        out = bfloat16(np.array(x, dtype=np.float32))
        out[:, :2 * half] = bfloat16(bfloat16(block * cos) + bfloat16(rotated * sin))
        return out.astype(np.float64)

    return rope


def dynamic_ntk_rope(head_dim, base=10000.0, factor=2.0, original=64):
    """Hugging Face's dynamic NTK rule in miniature: the base grows with the largest
    position of the call, ``base (factor L / original - (factor - 1))^(D / (D - 2))`` for
    ``L = max(positions) + 1 > original``."""

    def rope(x, positions):
        length = int(np.max(positions)) + 1
        grown = base
        if length > original:
            grown = base * (factor * length / original - (factor - 1)) ** (
                head_dim / (head_dim - 2))
        return numpy_rope(default_inv_freq(head_dim, grown))(x, positions)

    return rope


def table_rope(head_dim, table_size=2048):
    """GPT-J style: cos/sin looked up in a table of ``table_size`` rows (IndexError past it)."""
    phi = np.arange(table_size)[:, None] * default_inv_freq(head_dim)
    sin, cos = np.sin(phi), np.cos(phi)

    def rope(x, positions):
        index = np.asarray(positions)
        if index.dtype.kind != "i":
            raise TypeError("positions must be integers to index the table")
        c, s = np.repeat(cos[index], 2, axis=-1), np.repeat(sin[index], 2, axis=-1)
        rotated = np.stack([-x[:, 1::2], x[:, ::2]], axis=-1).reshape(x.shape)
        return x * c + rotated * s

    return rope


#: More module-level functions for the command-line tests.
pair_rope_64 = (lambda rope: lambda q, k, positions: (rope(q, positions), rope(k, positions)))(
    numpy_rope(default_inv_freq(64)))


def torch_style_rope(x, positions):
    """A function written for torch tensors: fails on NumPy arrays (no ``.float()``)."""
    return hf_rope_64(x.float(), positions)


def raising_rope(x, positions):
    """A function that raises a RuntimeError, as torch does on a shape mismatch."""
    raise RuntimeError("The size of tensor a (64) must match the size of tensor b (32)")


def sin_forward(x):
    return np.sin(x)


def sin_backward(grad, x):
    return grad * np.cos(x)


def sin_backward_wrong_sign(grad, x):
    return -grad * np.cos(x)
