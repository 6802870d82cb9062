"""How much each widening move changes the model's output: exact repairs vs the post's rules.

Every bar is one growth move of :mod:`refimpl.widening` applied to ten small random
models of :mod:`refimpl.transformer` (``d_model`` 8, 2 heads of 4, ``d_ff`` 16,
vocabulary 11, 2 pre-LN layers, GELU, LayerNorm with eps ``1e-5``, RoPE, tied output;
matrices ``N(0, 0.5^2)``, every bias ``N(0, 0.5^2)``, gains ``1 +- 0.3``, the recipe
of ``tests/widening/widening_cases.py``). The quantity is the relative change of the
logits on two sequences of 7 tokens,

    max |logits_wide - logits_small| / max |logits_small|,

the bar its largest value over the ten models and the dot its median. The exact moves
sit at float64 round-off (two of them reproduce the logits bit for bit, drawn at the
floor); the inexact rules that ``widen_hidden`` exposes as options, the post's table
(https://kexue.fm/archives/8444; ``faithful=True``), its pairwise RoPE repetition
(``rope_method="pairwise"``) and the tiling across heads that the post warns against
(``repetition="tile"``), are off by 1e-4 to order 1. Only ``widen_hidden`` offers
inexact variants; the other moves have no inexact counterpart in the code.

Run on its own: ``python docs/figures/widening_error.py widening_error.png``.
"""

import copy
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _style import figure, save

from refimpl.transformer import TransformerConfig, forward, init_params
from refimpl.widening import (
    add_heads,
    add_layers,
    duplicate_heads,
    grow_head_dim,
    split_ffn,
    widen_hidden,
)

BASE = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4, d_ff=16,
                         n_layers=2)
GQA = dataclasses.replace(BASE, n_heads=4, n_kv_heads=2)
RMS = dataclasses.replace(BASE, norm="rmsnorm")
SEEDS = range(10)
TOKENS = np.random.default_rng(99).integers(0, BASE.vocab_size, (2, 7))
FLOOR = 1e-18    # where an error of exactly 0 is drawn on the log axis

Move = Callable[[dict, TransformerConfig], tuple[dict, TransformerConfig]]


def random_model(config: TransformerConfig, seed: int) -> dict:
    """Parameters with every entry nonzero (biases too, which the post's table gets wrong)."""
    rng = np.random.default_rng(seed)
    params = init_params(config, rng, std=0.5)

    def randomize(tree: dict | list) -> None:
        for key, value in (tree.items() if isinstance(tree, dict) else enumerate(tree)):
            if isinstance(value, (dict, list)):
                randomize(value)
            elif key == "gain":
                tree[key] = 1.0 + 0.3 * rng.standard_normal(value.shape)
            elif value.ndim == 1:
                tree[key] = 0.5 * rng.standard_normal(value.shape)

    randomize(params)
    return params


def without_ffn_output_bias(params: dict) -> dict:
    """The same model with every FFN output bias set to 0 (isolates the eps rule)."""
    params = copy.deepcopy(params)
    for layer in params["layers"]:
        layer["ffn"]["b_down"][:] = 0.0
    return params


def relative_change(config: TransformerConfig, move: Move, seed: int,
                    prepare: Callable[[dict], dict] | None = None) -> float:
    params = random_model(config, seed)
    if prepare is not None:
        params = prepare(params)
    small = forward(params, config, TOKENS)[0]
    wide_params, wide_config = move(params, config)
    wide = forward(wide_params, wide_config, TOKENS)[0]
    return float(np.max(np.abs(wide - small)) / np.max(np.abs(small)))


# (label, config, move, prepare); exact moves first
EXACT: list[tuple[str, TransformerConfig, Move, Callable[[dict], dict] | None]] = [
    ("widen_hidden k=2 (zero_offgrid RoPE)", BASE, lambda p, c: widen_hidden(p, c, 2), None),
    ("widen_hidden k=2 (repeat_frequencies)", BASE,
     lambda p, c: widen_hidden(p, c, 2, rope_method="repeat_frequencies"), None),
    ("widen_hidden k=2, noise=0.1", BASE,
     lambda p, c: widen_hidden(p, c, 2, noise=0.1, rng=1), None),
    ("widen_hidden k=3, RMSNorm", RMS, lambda p, c: widen_hidden(p, c, 3), None),
    ("duplicate_heads k=2", BASE, lambda p, c: duplicate_heads(p, c, 2), None),
    ("duplicate_heads k=2, GQA (4 q / 2 kv heads)", GQA,
     lambda p, c: duplicate_heads(p, c, 2), None),
    ("split_ffn 16 -> 24", BASE, lambda p, c: split_ffn(p, c, 24, rng=1), None),
    ("grow_head_dim 4 -> 8", BASE, lambda p, c: grow_head_dim(p, c, 8, std=0.5, rng=1), None),
    ("add_heads 2 -> 3", BASE, lambda p, c: add_heads(p, c, 3, std=0.5, rng=1), None),
    ("add_heads, GQA 4 -> 6", GQA, lambda p, c: add_heads(p, c, 6, std=0.5, rng=1), None),
    ("add_layers 2 -> 3 (pre-LN)", BASE,
     lambda p, c: add_layers(p, c, 3, std=0.5, rng=1), None),
]
INEXACT: list[tuple[str, TransformerConfig, Move, Callable[[dict], dict] | None]] = [
    ("post's eps rule alone (FFN output bias 0)", BASE,
     lambda p, c: widen_hidden(p, c, 2, faithful=True, rope_method="zero_offgrid"),
     without_ffn_output_bias),
    ("post's table, exact RoPE (bias b/k + eps)", BASE,
     lambda p, c: widen_hidden(p, c, 2, faithful=True, rope_method="zero_offgrid"), None),
    ("post's pairwise RoPE alone", BASE,
     lambda p, c: widen_hidden(p, c, 2, rope_method="pairwise"), None),
    ("tiled q/k/v axis (repetition='tile')", BASE,
     lambda p, c: widen_hidden(p, c, 2, repetition="tile"), None),
    ("post's table verbatim (faithful=True)", BASE,
     lambda p, c: widen_hidden(p, c, 2, faithful=True), None),
]


def make(path: Path) -> None:
    rows = [(label, True, [relative_change(config, move, seed, prepare) for seed in SEEDS])
            for label, config, move, prepare in EXACT]
    rows += [(label, False, [relative_change(config, move, seed, prepare) for seed in SEEDS])
             for label, config, move, prepare in INEXACT]
    fig, (ax,) = figure(8.4, 5.6)
    y = np.arange(len(rows))[::-1]
    for position, (_, exact, errors) in zip(y, rows, strict=True):
        worst, median = max(errors), float(np.median(errors))
        color = "C0" if exact else "C3"
        ax.barh(position, max(worst, FLOOR) - FLOOR, left=FLOOR, color=color, alpha=0.75,
                height=0.7)
        ax.plot(max(median, FLOOR), position, "o", color="k", markersize=3)
        text = "0 (bit for bit)" if worst == 0.0 else f"{worst:.1e}"
        ax.annotate(text, (max(worst, FLOOR), position), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8)
    eps = float(np.finfo(np.float64).eps)
    ax.axvline(eps, color="0.3", linestyle=":", linewidth=1.2)
    ax.annotate("float64 eps 2.2e-16", (eps, len(rows) - 0.45), xytext=(-3, 0),
                textcoords="offset points", fontsize=8, color="0.3", va="center",
                ha="right")
    ax.axvline(1e-12, color="0.5", linestyle="--", linewidth=1)
    ax.annotate("tests' bound 1e-12", (1e-12, len(rows) - 0.45), xytext=(3, 0),
                textcoords="offset points", fontsize=8, color="0.4", va="center")
    ax.set_yticks(y, [label for label, _, _ in rows], fontsize=8)
    ax.set(xscale="log", xlim=(FLOOR, 30.0), ylim=(-0.7, len(rows) + 0.1),
           xlabel="relative change of the logits, max over 10 random models (dot: median)",
           title="logit change per growth move: exact (blue), inexact rules (red)")
    ax.grid(axis="y", visible=False)
    save(fig, path)


if __name__ == "__main__":
    make(Path(sys.argv[1]))
