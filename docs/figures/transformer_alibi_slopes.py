"""ALiBi's head slopes for a power of two and for a head count that is not one.

Calls :func:`refimpl.attention.alibi_slopes` (Press, Smith and Lewis 2022,
arXiv:2108.12409): for ``n`` a power of two the slopes are ``2^(-8h/n)``; for other
``n`` the first ``c`` (the largest power of two below ``n``) are those of ``c`` heads
and the remaining ``n - c`` are every other slope of ``2c`` heads. Plotted as
``log2`` of the slope against the head index for 8, 12 and 16 heads, the 12-head
sequence visibly takes the 8-head slopes and then slopes 1, 3, 5, 7 of 16 heads.

Run on its own: ``python docs/figures/transformer_alibi_slopes.py alibi.png``.
"""

import sys
from pathlib import Path

import numpy as np
from _style import figure, save

from refimpl.attention import alibi_slopes


def make(path: Path) -> None:
    fig, (axis,) = figure(6.4, 3.4)
    styles = {8: ("C0", "o", 9), 16: ("C1", "s", 5), 12: ("C3", "x", 7)}
    for n, (color, marker, size) in styles.items():
        heads = np.arange(1, n + 1)
        axis.plot(heads, np.log2(alibi_slopes(n)), linestyle="none", marker=marker,
                  markersize=size, color=color, label=f"{n} heads",
                  markerfacecolor="none" if marker != "x" else color)
    twelve = np.log2(alibi_slopes(12))
    sixteen = np.log2(alibi_slopes(16))
    for i in range(4):                  # head 9 + i of 12 has slope 2i + 1 of 16
        assert twelve[8 + i] == sixteen[2 * i]
        axis.plot([2 * i + 1, 9 + i], [sixteen[2 * i]] * 2, color="C3", linewidth=0.8,
                  linestyle=":")
    axis.annotate("heads 9\u201312 of 12 heads:\nslopes 1, 3, 5, 7 of 16 heads",
                  (11, twelve[10]), xytext=(12.4, -2.2), color="C3",
                  arrowprops=dict(arrowstyle="->", color="C3"))
    axis.set(xlabel="head index $h$", ylabel=r"$\log_2 m_h$", ylim=(-8.6, 0.2),
             xticks=[1, 4, 8, 12, 16],
             title="ALiBi slopes: 12 heads = 8 heads' slopes, then every other one of 16")
    axis.legend(loc="lower left")
    save(fig, path)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
