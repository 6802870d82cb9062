"""How far N-D RoPE moves a rotation: ``||R(d) - I||_F`` over the offsets of a 16 x 16 grid.

By relativity ``||R(p) - R(q)||_F = ||R(q - p) - I||_F``, so this one map over the offsets
``d = q - p`` (each coordinate from -15 to 15: every difference of two points of a
16 x 16 image grid) holds the distance between the rotations of any two patches; its
minimum over ``d != 0`` is the grid separation of
:func:`refimpl.rope.generators.validate_generators`. Head dimension 64, the settings of
naver-ai/rope-vit (Heo et al., arXiv:2403.13298): left, axial RoPE
(:func:`refimpl.rope.nd.axial_frequencies`, base 100); right, RoPE-Mixed at its
initialisation (:func:`refimpl.rope.nd.mixed_frequencies`, temperature 10, one head,
seed 3). Every rotation is built by :func:`refimpl.rope.apply` on the identity, with
angles from :func:`refimpl.rope.nd.nd_angles`.

Run on its own: ``python docs/figures/rope_nd_distances.py rope_nd_distances.png``.
"""

import sys
from pathlib import Path

import numpy as np
from _style import figure, save

from refimpl.rope import apply
from refimpl.rope.generators import generators, validate_generators
from refimpl.rope.grids import index_grid
from refimpl.rope.nd import axial_frequencies, mixed_frequencies, nd_angles

DIM = 64
SIDE = 16                      # the image grid is SIDE x SIDE patches
REACH = SIDE - 1               # offsets run over -REACH..REACH on each axis


def distance_map(frequencies: np.ndarray, axis_order: str) -> np.ndarray:
    """``||R(d) - I||_F`` on the offsets, as a (row offset, column offset) image."""
    offsets = index_grid((2 * REACH + 1,) * 2, axis_order=axis_order, offset=-REACH)
    rotations = apply(np.eye(DIM), nd_angles(offsets, frequencies)[:, None, :])
    distance = np.linalg.norm((rotations - np.eye(DIM)).reshape(len(offsets), -1), axis=1)
    return distance.reshape(2 * REACH + 1, 2 * REACH + 1)  # raster order: rows, then columns


def make(path: Path) -> None:
    mixed = mixed_frequencies(DIM, 1, rng=3)[0]
    alpha = float(np.arctan2(mixed[1, 0], mixed[0, 0]))   # the head's direction in (x, y)
    panels = (
        ("axial, base 100: pairs follow rows or columns", axial_frequencies(DIM, 2, 100.0),
         "ij", None),
        (f"RoPE-Mixed init: axes turned by $\\alpha = {np.degrees(alpha):.1f}^\\circ$",
         mixed, "xy", alpha),
    )
    fig, axes = figure(9.0, 4.1, columns=2)
    extent = (-REACH - 0.5, REACH + 0.5, REACH + 0.5, -REACH - 0.5)
    for ax, (title, frequencies, axis_order, direction) in zip(axes, panels, strict=True):
        image = distance_map(frequencies, axis_order)
        separation = validate_generators(generators(frequencies), (SIDE, SIDE)).grid_separation
        nonzero = np.where(image > 0, image, np.inf)
        if not np.isclose(nonzero.min(), separation, rtol=1e-9, atol=0):
            raise RuntimeError(f"map minimum {nonzero.min()} != grid separation {separation}")
        shown = ax.imshow(image, extent=extent, cmap="viridis", vmin=0,
                          vmax=np.sqrt(4 * DIM), interpolation="nearest")
        worst = np.unravel_index(np.argmin(nonzero), image.shape)
        ax.plot(worst[1] - REACH, worst[0] - REACH, "x", color="w", markersize=7)
        if direction is not None:   # u = (cos a, sin a) and u_perp in (x = col, y = row)
            for angle in (direction, direction + np.pi / 2):
                ends = np.array([-1.0, 1.0]) * 1.5 * REACH
                ax.plot(ends * np.cos(angle), ends * np.sin(angle), color="w",
                        linestyle="--", linewidth=0.8)
            ax.set_xlim(extent[:2])
            ax.set_ylim(extent[2:])
        ax.grid(False)
        ax.set(title=title, xlabel=r"column offset $\Delta x$",
               ylabel=r"row offset $\Delta y$")
        ax.annotate(f"min over $d \\neq 0$: {separation:.3f}", (0.02, 0.03),
                    xycoords="axes fraction", color="w", fontsize=9)
    fig.colorbar(shown, ax=axes, shrink=0.9,
                 label=r"$\|R(d) - I\|_F$  (at most $\sqrt{4D} = 16$)")
    save(fig, path)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
