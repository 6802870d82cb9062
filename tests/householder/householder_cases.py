"""Hypothesis strategies for the Householder tests: pairs of unit vectors (a, b) in
dimensions 1..64, random and adversarial (equal, nearly equal, opposite, nearly opposite,
axis-aligned, tiny components), described by a small frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

EPS = float(np.finfo(np.float64).eps)

CASES = ("random", "equal", "near_equal", "opposite", "near_opposite", "axis", "tiny")


@dataclass(frozen=True)
class Pair:
    """Unit vectors a, b with how they were made (printed when a test fails)."""

    case: str
    a: np.ndarray
    b: np.ndarray

    @property
    def d(self) -> int:
        return self.a.shape[-1]

    @property
    def difference(self) -> float:
        """||a - b||, small near the Householder reflection's singular point b = a."""
        return norm(self.a - self.b)

    @property
    def sum(self) -> float:
        """||a + b||, small near the rotation's and symmetric form's singular point b = -a."""
        return norm(self.a + self.b)


def norm(v: np.ndarray) -> float:
    """Euclidean norm without underflow (entries may be 1e-300)."""
    scale = np.max(np.abs(v))
    return float(scale * np.sqrt(np.sum((v / scale) ** 2))) if scale > 0 else 0.0


def unit(v: np.ndarray) -> np.ndarray:
    """Normalise with a scaled norm (independent of the code under test)."""
    v = v / np.max(np.abs(v))
    return v / np.sqrt(np.sum(v * v))


def make_pair(case: str, d: int, seed: int, epsilon: float) -> Pair:
    rng = np.random.default_rng(seed)
    a = unit(rng.standard_normal(d))
    if case == "random":
        b = unit(rng.standard_normal(d))
    elif case == "equal":
        b = a.copy()
    elif case == "opposite":
        b = -a
    elif case == "near_equal":
        b = unit(a + epsilon * rng.standard_normal(d))
    elif case == "near_opposite":
        b = unit(-a + epsilon * rng.standard_normal(d))
    elif case == "axis":
        a = np.eye(d)[rng.integers(d)] * rng.choice([-1.0, 1.0])
        b = np.eye(d)[rng.integers(d)] * rng.choice([-1.0, 1.0])
    else:  # "tiny": components spanning 300 orders of magnitude
        a = unit(rng.standard_normal(d) * 10.0 ** rng.uniform(-300, 0, d))
        b = unit(rng.standard_normal(d) * 10.0 ** rng.uniform(-300, 0, d))
    return Pair(case, a, b)


@st.composite
def pairs(draw, min_d: int = 1, max_d: int = 64, cases=CASES) -> Pair:
    case = draw(st.sampled_from(cases))
    d = draw(st.integers(min_d, max_d))
    seed = draw(st.integers(0, 2**32 - 1))
    epsilon = draw(st.sampled_from([1e-2, 1e-5, 1e-8, 1e-12, 1e-15, 1e-17]))
    return make_pair(case, d, seed, epsilon)


def degenerate(kind: str, pair: Pair) -> bool:
    """True where the map uses its documented fallback (b = a or b = -a exactly)."""
    if kind == "householder":
        return not np.any(pair.a != pair.b)
    if kind in ("rotation", "symmetric"):
        return not np.any(pair.a != -pair.b)
    return False


def singular_distance(kind: str, pair: Pair) -> float:
    """Distance to the map's singular point (inf for the stable map)."""
    return {"householder": pair.difference, "rotation": pair.sum,
            "symmetric": pair.sum}.get(kind, np.inf)


def accuracy_bound(kind: str, pair: Pair) -> float:
    """The docstrings' bound on ||T a - b||: 8 eps (sqrt(d) + 1/distance to the singular point)."""
    distance = singular_distance(kind, pair)
    near = 0.0 if degenerate(kind, pair) or distance == np.inf else 1.0 / distance
    return 8 * EPS * (np.sqrt(pair.d) + near)
