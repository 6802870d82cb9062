"""RoPE's long-range decay indicator against the relative distance (kexue.fm/archives/8265).

Calls :func:`refimpl.rope.decay_indicator`, the post's ``(1/(d/2)) sum_j |S_j|`` with
``S_j = sum_(i<j) e^{i r theta_i}``: the factor that bounds the attention score at
relative distance ``r`` by Abel summation. Left, the post's plot (``d = 128``, base
10000, ``r`` from 0 to 256); right, the same indicator out to ``r = 10^5`` on a log axis,
for the base 10000 of the post and the base 500000 of Llama 3.

Run on its own: ``python docs/figures/rope_decay.py rope_decay.png``.
"""

import sys
from pathlib import Path

import numpy as np
from _style import figure, save

from refimpl.rope import decay_indicator

DIM = 128


def make(path: Path) -> None:
    fig, (near, far) = figure(9.0, 3.4, columns=2)
    distance = np.arange(257)
    near.plot(distance, decay_indicator(distance, dim=DIM, base=10000.0), color="C0")
    near.axhline((DIM / 2 + 1) / 2, color="0.5", linestyle=":", linewidth=1)
    near.annotate("$(d/2 + 1)/2$ at $r = 0$", ((DIM / 2 + 1) / 2, 0), xytext=(60, 29.5),
                  xycoords=("data", "data"), color="0.35")
    near.set(xlabel="relative distance $r = m - n$", ylim=(0, 34), xlim=(0, 256),
             ylabel=r"$\frac{1}{d/2}\sum_{j=1}^{d/2} |S_j|$",
             title=f"the post's plot: $d = {DIM}$, base $10^4$")

    far_distance = np.unique(np.round(np.logspace(0, 5, 800)))
    for base, label, color in ((1e4, "base $10^4$ (RoFormer)", "C0"),
                               (5e5, r"base $5 \times 10^5$ (Llama 3)", "C1")):
        far.plot(far_distance, decay_indicator(far_distance, dim=DIM, base=base),
                 label=label, color=color, linewidth=1)
    far.set(xscale="log", xlabel="relative distance $r$ (log scale)", ylim=(0, 34),
            xlim=(1, 1e5), title="farther out: a tendency, not a monotone fall")
    far.legend(loc="upper right")
    save(fig, path)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
