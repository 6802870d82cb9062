"""refimpl's own RoPE implementations as property subjects, for tests/properties.

Each subject is drawn with its configuration (layout, rotary width, base, magnitude),
so the properties of :mod:`refimpl.testing.properties.rope` run over refimpl's whole
configuration space, not one preset.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from refimpl import rope
from refimpl.testing.presets import RopeConvention
from refimpl.testing.properties.rope import RopePairSubject, RopeSubject

LAYOUTS = ("interleaved", "half")


@st.composite
def configurations(draw, max_pairs: int = 16):
    """``(head_dim, rotary_dim, base, layout)``: partial rotary included."""
    pairs = draw(st.integers(1, max_pairs))
    head_dim = 2 * pairs + draw(st.integers(0, 5))
    base = draw(st.sampled_from([10.0, 100.0, 1e4, 5e5]))
    return head_dim, 2 * pairs, base, draw(st.sampled_from(LAYOUTS))


def apply_subject(head_dim: int, rotary_dim: int, base: float, layout: str,
                  definition: bool = False) -> RopeSubject:
    """``rope.apply`` (or its textbook form ``apply_definition``) at ``angles(p, inv_freq)``."""
    omega = rope.inv_freq(rotary_dim, base)
    rotate = rope.apply_definition if definition else rope.apply

    def fn(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return rotate(x, rope.angles(positions, omega), layout=layout, rotary_dim=rotary_dim)

    return RopeSubject(fn, head_dim, omega_max=float(omega[0]), integer_positions=False,
                       name=f"{rotate.__name__}[{layout}]")


def convention(head_dim: int, rotary_dim: int, base: float, layout: str,
               magnitude: float = 1.0) -> RopeConvention:
    """The same configuration as a reference convention (computed by the fast ``apply``)."""
    return RopeConvention(f"refimpl-{layout}", head_dim, rope.inv_freq(rotary_dim, base)[None],
                          layout, magnitude=magnitude, parameters={"base": base})


def pair_subject(expect: RopeConvention) -> RopePairSubject:
    """The q/k form of a convention: queries by ``expect``, keys by ``expect.keys()``
    (they differ only with xPos)."""
    keys = expect.keys()

    def fn(q: np.ndarray, k: np.ndarray, positions: np.ndarray):
        return expect(q, positions), keys(k, positions)

    omega = float(np.max(np.abs(expect.frequencies)))
    return RopePairSubject(fn, expect.head_dim, expect, omega_max=omega,
                           integer_positions=False, name=expect.name)
