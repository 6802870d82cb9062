"""von Mises-Fisher samples on the sphere S^2 and the law of ``w = <mu, x>``.

Top row: 1500 draws of :func:`refimpl.vmf.sample` on S^2 (``d = 3``) around
``mu = e_3`` for ``kappa = 1, 10, 100``, with ``method="wood"`` (Wood's rejection sampler
in the complement form of :func:`refimpl.vmf.wood.wood`, then the tangent direction and
the Householder map e_1 -> mu), from a fixed ``numpy.random.default_rng`` seed.
Bottom row: for the same kappas, the histogram of the samples' ``w = <mu, x>`` against
the density :func:`refimpl.vmf.marginal_pdf`; each panel's ``w`` axis starts at the
0.1% quantile :func:`refimpl.vmf.marginal_quantile`, so the concentrated cases are not
squeezed against ``w = 1``.

Run on its own: ``python docs/figures/vmf_sphere.py vmf_sphere.png``.
"""

import sys
from pathlib import Path

import numpy as np
from _style import figure, save

from refimpl.vmf import marginal_pdf, marginal_quantile, sample

KAPPAS = (1.0, 10.0, 100.0)
D = 3
N = 1500
SEED = 20260
ELEVATION, AZIMUTH = 25.0, -60.0
#: Unit vector from the centre towards the viewer of the 3-D panels.
VIEW = np.array([np.cos(np.radians(ELEVATION)) * np.cos(np.radians(AZIMUTH)),
                 np.cos(np.radians(ELEVATION)) * np.sin(np.radians(AZIMUTH)),
                 np.sin(np.radians(ELEVATION))])


def make(path: Path) -> None:
    fig, placeholders = figure(9.6, 6.4, columns=len(KAPPAS))
    for axis in placeholders:
        axis.remove()
    grid = fig.add_gridspec(2, len(KAPPAS), height_ratios=(1.15, 1.0))
    mu = np.array([0.0, 0.0, 1.0])
    rng = np.random.default_rng(SEED)

    # a faint wire sphere for the scatter panels
    polar, azimuth = np.meshgrid(np.linspace(0, np.pi, 13), np.linspace(0, 2 * np.pi, 25))
    wire = (np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar))

    for column, kappa in enumerate(KAPPAS):
        x = sample(mu, kappa, size=N, rng=rng, method="wood")
        w = x @ mu

        ball = fig.add_subplot(grid[0, column], projection="3d")
        ball.plot_wireframe(*wire, color="0.8", linewidth=0.4)
        front = x @ VIEW > 0  # the points on the viewer's side, drawn darker
        ball.scatter(*x[~front].T, s=3, color="C0", alpha=0.35, depthshade=False)
        ball.scatter(*x[front].T, s=3, color="C0", alpha=0.9, depthshade=False)
        ball.quiver(0, 0, 1, 0, 0, 0.35, color="C3", linewidth=1.5, arrow_length_ratio=0.3)
        ball.text(0.12, 0.0, 1.3, r"$\mu$", color="C3")
        ball.set_box_aspect((1, 1, 1), zoom=1.25)
        ball.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), xticks=[], yticks=[], zticks=[])
        ball.view_init(elev=ELEVATION, azim=AZIMUTH)
        ball.set_axis_off()
        ball.set_title(rf"$\kappa = {kappa:g}$: {N} draws on $S^2$")

        low = float(marginal_quantile(1e-3, D, kappa))
        edges = np.linspace(low, 1.0, 41)
        counts, _ = np.histogram(w, bins=edges)
        density = counts / (N * np.diff(edges))  # divided by all N draws, not those shown
        hist = fig.add_subplot(grid[1, column])
        hist.stairs(density, edges, fill=True, color="C0", alpha=0.35,
                    label="histogram of the draws")
        t = np.linspace(low, 1.0, 400)
        hist.plot(t, marginal_pdf(t, D, kappa), color="C1", linewidth=1.5,
                  label=r"marginal_pdf: $p(w)$")
        hist.set(xlim=(low, 1.0), ylim=(0, None), xlabel=r"$w = \mu^\top x$",
                 title=rf"law of $w$, $\kappa = {kappa:g}$")
        if column == 0:
            hist.set_ylabel("density")
            hist.legend(loc="upper left", fontsize=8)
    save(fig, path)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
