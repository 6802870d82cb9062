"""Shared pieces of the mixer tests: random parameters in the ``(out, in)`` layout, the
flattening of parameter dataclasses for ``assert_vjp``, and the Hypothesis budget.

Reference values in the tests come from independent formulas written there (explicit
DFT matrices, the two-step External Attention normalisation, the Flax/PyTorch layouts
of the authors' code, a NumPy port of timm's blocks), never from the code under test.
"""

import dataclasses

from hypothesis import settings
from hypothesis import strategies as st

from refimpl import mixers as mx
from refimpl.gradcheck import assert_vjp

seeds = st.integers(0, 2**32 - 1)
#: gradient checks cost two forwards per parameter entry: run fewer of them
GRAD_EXAMPLES = max(3, settings.default.max_examples // 8)


def normal(rng, *shape):
    return rng.standard_normal(shape)


# ----------------------------------------------------------------------------- parameter makers

def mixer_params(rng, n, d, h=3, c=5):
    return mx.MixerParams(1 + 0.1 * normal(rng, d), normal(rng, d), normal(rng, h, n),
                          normal(rng, h), normal(rng, n, h), normal(rng, n),
                          1 + 0.1 * normal(rng, d), normal(rng, d), normal(rng, c, d),
                          normal(rng, c), normal(rng, d, c), normal(rng, d))


def resmlp_params(rng, n, d, c=5):
    return mx.ResMLPParams(normal(rng, d), normal(rng, d), normal(rng, n, n), normal(rng, n),
                           normal(rng, d), normal(rng, d), normal(rng, d), normal(rng, c, d),
                           normal(rng, c), normal(rng, d, c), normal(rng, d), normal(rng, d))


def stack_params(rng, n, d, h=3, c=5):
    return mx.StackFFNParams(1 + 0.1 * normal(rng, d), normal(rng, d), normal(rng, c, d),
                             normal(rng, c), normal(rng, d, c), normal(rng, d),
                             1 + 0.1 * normal(rng, n), normal(rng, n), normal(rng, h, n),
                             normal(rng, h), normal(rng, n, h), normal(rng, n))


def tiny_params(rng, d, e, a=3):
    return mx.TinyAttentionParams(normal(rng, 3 * a, d), normal(rng, 3 * a), normal(rng, e, a),
                                  normal(rng, e))


def gmlp_params(rng, n, d, e=2, attention=False, weight_scale=1.0):
    return mx.GMLPParams(1 + 0.1 * normal(rng, d), normal(rng, d), normal(rng, 2 * e, d),
                         normal(rng, 2 * e), 1 + 0.1 * normal(rng, e), normal(rng, e),
                         weight_scale * normal(rng, n, n), 1 + weight_scale * normal(rng, n),
                         normal(rng, d, e), normal(rng, d),
                         tiny_params(rng, d, e) if attention else None)


# ----------------------------------------------------------------------------- gradient checks

def flatten(params):
    """Dataclass -> flat list of arrays (the nested tiny attention last)."""
    out = []
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if dataclasses.is_dataclass(value):
            out.extend(flatten(value))
        elif value is not None:
            out.append(value)
    return out


def unflatten(template, flat):
    """Inverse of :func:`flatten` for a template of the same structure."""
    flat, values = list(flat), {}
    for field in dataclasses.fields(template):
        value = getattr(template, field.name)
        if dataclasses.is_dataclass(value):
            size = len(flatten(value))
            values[field.name], flat = unflatten(value, flat[:size]), flat[size:]
        elif value is None:
            values[field.name] = None
        else:
            values[field.name], flat = flat[0], flat[1:]
    return type(template)(**values)


def check_block(block, block_vjp, x, params, **options):
    """assert_vjp of a (x, params-dataclass) block through flat argument lists."""
    f = lambda x, *flat: block(x, unflatten(params, flat), **options)

    def f_vjp(grad, x, *flat):
        gx, gp = block_vjp(grad, x, unflatten(params, flat), **options)
        return (gx, *flatten(gp))
    return assert_vjp(f, f_vjp, [x, *flatten(params)], rng=0)


def sizes(rng):
    return int(rng.integers(1, 3)), int(rng.integers(2, 5)), int(rng.integers(2, 5))
