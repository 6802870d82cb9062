"""What every figure script shares: one look, and a PNG whose bytes depend only on the data.

matplotlib's PNG writer stamps the library version into the file unless told not to;
without the stamp, the same data gives the same bytes and the build does not recopy it.
"""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

plt.rcParams.update({
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
})


def figure(width: float, height: float, columns: int = 1) -> tuple[Figure, list[Any]]:
    """A new figure with ``columns`` side-by-side axes, in refimpl's style."""
    fig, axes = plt.subplots(1, columns, figsize=(width, height), layout="constrained",
                             squeeze=False)
    return fig, list(axes[0])


def save(fig: Figure, path: Path) -> None:
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
