"""The ``n > 8.33 ln N`` rule against the exact root of ``2 ln N + h_n = 0``.

Calls :func:`refimpl.dimension.minimum_dimension` (the exact root, Brent's method on the
stable quadrature of ``h_n``) and :func:`refimpl.dimension.dimension_rule` with the post's
coefficient 8.33 and with the exact asymptotic one, ``4 / ln phi = 8.3123``
(Su, kexue.fm/archives/7695 and /8711). Left, the three against the number of items
``N``; right, each rule minus the exact root, with the range ``512 <= N <= 5e6`` over
which the docstring of ``dimension_rule`` promises agreement within 1.

Run on its own: ``python docs/figures/dimension_rule.py dimension_rule.png``.
"""

import sys
from pathlib import Path

import numpy as np
from _style import figure, save

from refimpl.dimension import (
    ASYMPTOTIC_COEFFICIENT,
    POST_COEFFICIENT,
    dimension_rule,
    minimum_dimension,
)


def make(path: Path) -> None:
    vocab_size = np.logspace(1, 8, 57)
    exact = np.array([minimum_dimension(n) for n in vocab_size])
    post = dimension_rule(vocab_size)
    asymptotic = dimension_rule(vocab_size, ASYMPTOTIC_COEFFICIENT)

    fig, (values, gaps) = figure(9.0, 3.4, columns=2)
    values.plot(vocab_size, exact, "o", markersize=3, color="k",
                label=r"exact root $n^*$ of $2\ln N + h_n = 0$")
    values.plot(vocab_size, post, color="C0", label=f"rule ${POST_COEFFICIENT}\\,\\ln N$")
    values.plot(vocab_size, asymptotic, color="C1", linestyle="--",
                label=f"asymptote ${ASYMPTOTIC_COEFFICIENT:.4f}\\,\\ln N$")
    values.set(xscale="log", xlabel="number of items $N$", ylabel="dimensions $n$",
               title="how many dimensions $N$ items need")
    values.legend(loc="upper left")

    gaps.axvspan(512, 5e6, color="0.9", zorder=0, label=r"$512 \leq N \leq 5 \times 10^6$")
    gaps.axhline(0, color="k", linewidth=0.8)
    gaps.plot(vocab_size, post - exact, color="C0", label=f"${POST_COEFFICIENT}\\,\\ln N - n^*$")
    gaps.plot(vocab_size, asymptotic - exact, color="C1", linestyle="--",
              label=f"${ASYMPTOTIC_COEFFICIENT:.4f}\\,\\ln N - n^*$")
    gaps.set(xscale="log", xlabel="number of items $N$", ylabel="rule minus exact root",
             title="the rule's error, in dimensions")
    gaps.legend(loc="lower left")
    save(fig, path)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
