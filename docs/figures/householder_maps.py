"""The three orthogonal maps a -> b of https://kexue.fm/archives/8453 acting on a 3-D frame.

For ``a = e1`` and a fixed unit ``b`` (``a.b > 0``), each panel draws the standard frame
``e1, e2, e3`` (thin, grey, dashed) and its images ``T e1, T e2, T e3`` (solid), computed
by applying refimpl's matrix-free maps to the three basis vectors:
:func:`refimpl.householder.householder_map` (a reflection, det -1),
:func:`refimpl.householder.rotation_map` (the rotation in span(a, b), det +1) and
:func:`refimpl.householder.symmetric_map` (det ``(-1)^(d-1)``, +1 here). ``a`` and ``b``
are marked; each panel also shows the map's geometry: the mirror plane orthogonal to
``a - b``, the rotation axis ``a x b``, and the axis ``a + b`` about which the symmetric
map turns by pi in 3-D. The determinant in each title is that of the computed images.

Run on its own: ``python docs/figures/householder_maps.py householder_maps.png``.
"""

import sys
from pathlib import Path

import numpy as np
from _style import save
from matplotlib import pyplot as plt

from refimpl.householder import householder_map, normalize, rotation_map, symmetric_map

A = np.array([1.0, 0.0, 0.0])
B = normalize([0.25, 0.85, 0.45])
FRAME = np.eye(3)
COLORS = ("C3", "C2", "C0")  # e1, e2, e3 and their images
MAPS = (
    ("householder_map", householder_map, "reflection in the plane $\\perp\\, a - b$"),
    ("rotation_map", rotation_map, "rotation by $\\theta$ about $a \\times b$"),
    ("symmetric_map", symmetric_map, "turn by $\\pi$ about $a + b$"),
)


def _arrow(ax, vector, color, **style) -> None:
    ax.quiver(0, 0, 0, *vector, color=color, arrow_length_ratio=0.12, **style)


def _label(ax, vector, text, color, scale=1.12) -> None:
    ax.text(*(scale * np.asarray(vector)), text, color=color, fontsize=9,
            ha="center", va="center")


def _mirror_plane(ax, normal) -> None:
    """A translucent square of the plane through 0 orthogonal to ``normal``."""
    n = normal / np.linalg.norm(normal)
    u = np.cross(n, [0.0, 0.0, 1.0])
    u /= np.linalg.norm(u)
    w = np.cross(n, u)
    s, t = np.meshgrid(np.linspace(-1.1, 1.1, 2), np.linspace(-1.1, 1.1, 2))
    points = s[..., None] * u + t[..., None] * w
    ax.plot_surface(points[..., 0], points[..., 1], points[..., 2], color="0.6",
                    alpha=0.18, linewidth=0, shade=False)


def _axis_line(ax, direction, label) -> None:
    d = direction / np.linalg.norm(direction)
    ends = np.array([-1.25 * d, 1.25 * d])
    ax.plot(*ends.T, color="0.3", linestyle=":", linewidth=1.4)
    _label(ax, 1.25 * d, label, "0.25", scale=1.08)


def make(path: Path) -> None:
    fig = plt.figure(figsize=(11.5, 4.6), layout="constrained")
    for column, (name, apply_map, geometry) in enumerate(MAPS):
        ax = fig.add_subplot(1, 3, column + 1, projection="3d")
        images = apply_map(FRAME, A, B)  # row i is T e_i
        determinant = np.linalg.det(images)
        if name == "householder_map":
            _mirror_plane(ax, A - B)
        elif name == "rotation_map":
            _axis_line(ax, np.cross(A, B), r"$a \times b$")
        else:
            _axis_line(ax, A + B, "$a + b$")
        for i in range(3):
            _arrow(ax, FRAME[i], "0.55", linestyle="--", linewidth=1.0)
            _label(ax, FRAME[i], f"$e_{i + 1}$", "0.45", scale=1.18)
            _arrow(ax, images[i], COLORS[i], linewidth=2.0)
            _label(ax, images[i], f"$Te_{i + 1}$", COLORS[i])
        ax.scatter(*A, color="k", s=28, depthshade=False)
        ax.scatter(*B, color="k", marker="*", s=90, depthshade=False)
        _label(ax, A + [0.0, 0.0, -0.2], "$a$", "k", scale=1.0)
        _label(ax, B, "$b$", "k", scale=0.80)
        ax.set(xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), zlim=(-1.1, 1.1),
               xlabel="$x_1$", ylabel="$x_2$", zlabel="$x_3$")
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=18, azim=-58)
        ax.set(xticks=[-1, 0, 1], yticks=[-1, 0, 1], zticks=[-1, 0, 1])
        ax.tick_params(labelsize=7, pad=0)
        for pane in (ax.xaxis, ax.yaxis, ax.zaxis):
            pane.set_pane_color((1.0, 1.0, 1.0, 0.0))
        ax.set_title(f"{name}\n{geometry}, $\\det T = {determinant:+.0f}$", fontsize=10, pad=0)
    save(fig, path)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
