"""RoPE frequency schedules side by side: what each ``rope_type`` does to every pair.

Calls :func:`refimpl.rope.scaled_inv_freq` for the default frequencies and five of the
context-extension schedules of :mod:`refimpl.rope.frequencies`, all at rotary width
``d = 128``, base 10000, an original context ``L0 = 4096`` and an extension factor
``s = 4``. Left, the wavelength ``2 pi / omega'_k`` of every pair ``k`` against the
original context and the extended one; right, the ratio ``omega'_k / omega_k`` to the
default frequencies. LongRoPE is left out: its per-pair factors come from a checkpoint,
and made-up ones would show nothing about the method.

Run on its own: ``python docs/figures/rope_schedules.py rope_schedules.png``.
"""

import sys
from pathlib import Path

import numpy as np
from _style import figure, save

from refimpl.rope import scaled_inv_freq

DIM, BASE, L0, FACTOR = 128, 10000.0, 4096, 4.0

SCHEDULES = [
    ("default", "default", {}),
    ("linear", "linear", {"factor": FACTOR}),
    ("dynamic, seq_len $= 4 L_0$", "dynamic",
     {"factor": FACTOR, "max_position_embeddings": L0, "seq_len": 4 * L0}),
    ("yarn", "yarn", {"factor": FACTOR, "original_max_position_embeddings": L0}),
    ("llama3 (lff 1, hff 4)", "llama3",
     {"factor": FACTOR, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": L0}),
    ("proportional, 3/4 of the pairs", "proportional", {"partial_rotary_factor": 0.75}),
]


def make(path: Path) -> None:
    fig, (wave, ratio) = figure(9.5, 3.8, columns=2)
    pairs = np.arange(DIM // 2)
    default, _ = scaled_inv_freq("default", DIM, BASE)
    styles = ["-", "--", "-", "-", "-", ":"]
    for (label, rope_type, parameters), style in zip(SCHEDULES, styles, strict=True):
        omega, _ = scaled_inv_freq(rope_type, DIM, BASE, **parameters)
        turning = omega > 0  # proportional's pass-through pairs have no wavelength
        wave.plot(pairs[turning], 2 * np.pi / omega[turning], style, label=label, linewidth=1.2)
        ratio.plot(pairs, omega / default, style, label=label, linewidth=1.2)
    for length, text in ((L0, "$L_0$"), (FACTOR * L0, "$s L_0$")):
        wave.axhline(length, color="0.5", linestyle=":", linewidth=1)
        wave.annotate(text, (1, length), xytext=(1, length * 1.3), color="0.35")
    wave.set(yscale="log", xlabel="pair index $k$", xlim=(0, DIM // 2 - 1),
             ylabel=r"wavelength $2\pi / \omega'_k$",
             title=f"$d = {DIM}$, base $10^4$, $L_0 = {L0}$, $s = {FACTOR:g}$")
    ratio.set(xlabel="pair index $k$", xlim=(0, DIM // 2 - 1), ylim=(-0.03, 1.08),
              ylabel=r"$\omega'_k / \omega_k$", title="relative to the default frequencies")
    ratio.legend(loc="lower left", fontsize=8)
    save(fig, path)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
