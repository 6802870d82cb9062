"""The conformance kit's error-by-position curve for float32 and float64 RoPE angles.

Two NumPy RoPE functions in the Hugging Face style (half layout, ``rotate_half``, base
10000, ``head_dim = 64``) differ in one thing only: one computes the frequencies, the
positions and the angles ``position * inv_freq`` in float32, the other in float64 (both
take cos and sin of those angles in float64 and rotate float64 inputs). Each is checked by
:func:`refimpl.testing.check_rope` against the ``hf-default`` preset, claiming the
precision its angles really have, and :meth:`refimpl.testing.report.Report.plot` draws
both reports' curves on one axes: the worst relative error at positions 0, 1, 2, 4, ...,
2**17 and the tolerance ``16 (eps_in + eps_angle |angle|)`` of each claim.

Run on its own: ``python docs/figures/rope_precision.py rope_precision.png``.
"""

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _style import figure, save

from refimpl.testing import check_rope, preset

HEAD_DIM = 64


def rope_with_angles_in(dtype: type) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """HF-style RoPE ``fn(x, positions)`` whose angles are computed in ``dtype``."""
    half = HEAD_DIM // 2

    def rope(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        inv_freq = dtype(1.0) / dtype(10000.0) ** (np.arange(0, HEAD_DIM, 2, dtype=dtype)
                                                   / dtype(HEAD_DIM))
        angles = positions.astype(dtype)[:, None] * inv_freq
        emb = np.concatenate([angles, angles], axis=-1).astype(np.float64)
        rotated = np.concatenate([-x[:, half:], x[:, :half]], axis=-1)
        return x * np.cos(emb) + rotated * np.sin(emb)

    rope.__name__ = f"rope_angles_{np.dtype(dtype).name}"
    return rope


def make(path: Path) -> None:
    expect = preset("hf-default", head_dim=HEAD_DIM)
    fig, (ax,) = figure(7.0, 3.8)
    for dtype, color in ((np.float64, "C0"), (np.float32, "C3")):
        name = np.dtype(dtype).name
        report = check_rope(rope_with_angles_in(dtype), head_dim=HEAD_DIM, expect=expect,
                            angle_dtype=name)
        report.plot(ax=ax, label=f"angles in {name}: {'PASS' if report.passed else 'FAIL'}")
        errors, tolerance = ax.lines[-2:]
        errors.set_color(color)
        tolerance.set(color=color, label=f"tolerance when {name} angles are claimed")
    ax.set_ylim(1e-17, 1e4)  # headroom for the legend above the float32 tolerance
    ax.legend(loc="upper left", fontsize=8)
    ax.set(xlabel="position (symmetric log scale)",
           ylabel="max relative error vs refimpl",
           title="check_rope against hf-default, head_dim 64: error by position")
    save(fig, path)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
