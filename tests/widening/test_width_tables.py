"""The tables of the width moves (refimpl.widening.width) entry by entry, and their
exactness on one small model per option, fast enough to run for every change.

The tables are those of the module docstrings and docs/widening.md: with hidden factor
``c`` (``1/sqrt k`` for ``scaling="orthogonal"``, 1 for ``"copy"``) every hidden state
becomes ``repeat(h, k) c`` (``tile`` for head duplication), a layer reading it divides by
``k c``, the FFN's up projection is a pure copy before a non-homogeneous activation and
carries ``1/sqrt k`` for ReLU and for the linear branch of a gated FFN, q and k carry
``k^(-1/4)`` (``k^(-1/2)`` without the attention scale), the FFN output bias is ``c b``
(``b / k`` in the post's table), every norm eps becomes ``c^2 eps``.

Error model: a table entry is the old entry times two or three float64 factors, each
rounded, so it is within 4 u (u = 2^-52) of the closed form, relatively; the logits are
compared with the TOL of widening_cases (1e-12 relative), far above the round-off of
these one- and two-layer models (~1e-15) and far below any wrong rule (>= 1e-6 here).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from widening_cases import TOL, assert_valid, equivalence_error, flat, model_inputs, random_params

from refimpl import rope
from refimpl.transformer import TransformerConfig
from refimpl.widening import duplicate_heads, split_ffn, widen_hidden

U = np.finfo(np.float64).eps
REL = 4 * U

_BASE = dict(vocab_size=11, d_model=4, n_heads=2, head_dim=2, d_ff=6, n_layers=1)

#: One small model per group of options: learned positions with an MLM head (GELU);
#: partial interleaved RoPE with SwiGLU and an untied output; half-layout RoPE with
#: grouped-query heads, ReLU, RMSNorm and no attention scale; an explicit frequency
#: table; no positions, one key/value head, ReLU and an MLM norm with its own eps.
#: (Interleaved RoPE has two rotary pairs per head, so a pair copied onto the wrong
#: features shows.)
CONFIGS = {
    "mlm_gelu": dict(_BASE, norm_position="post", positions="learned", max_positions=8,
                     mlm_head=True),
    "rope_swiglu": dict(_BASE, head_dim=6, rotary_dim=4, activation="swiglu",
                        tie_output=False),
    "rope_gqa_relu": dict(_BASE, n_heads=4, n_kv_heads=2, head_dim=4, rope_layout="half",
                          activation="relu", norm="rmsnorm", attention_scale=False),
    "rope_table": dict(_BASE, head_dim=4, rope_layout="half", rope_inv_freq=(1.0, 0.3),
                       activation="geglu", tie_output=False),
    "none_mqa_relu": dict(_BASE, n_heads=2, n_kv_heads=1, positions="none",
                          activation="relu", mlm_head=True, mlm_norm_eps=1e-4),
}

#: (k, rope_method, scaling, noise) of widen_hidden; (k, scaling, noise) of duplicate_heads.
HIDDEN_CASES = [(2, "zero_offgrid", "orthogonal", 0.0), (3, "zero_offgrid", "copy", 0.3),
                (3, "repeat_frequencies", "orthogonal", 0.3),
                (2, "repeat_frequencies", "copy", 0.0)]
HEAD_CASES = [(2, "orthogonal", 0.3), (3, "copy", 0.0)]


def _model(name: str, seed: int = 0):
    config = TransformerConfig(**CONFIGS[name])
    return random_params(config, seed), config


def _ffn(params: dict) -> dict:
    return params["layers"][0]["ffn"]


def _attn(params: dict) -> dict:
    return params["layers"][0]["attn"]


def _close(actual, expected) -> None:
    np.testing.assert_allclose(actual, expected, rtol=REL, atol=0)


# -- every move is exact on every option ------------------------------------------------

@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_move_preserves_the_logits(name):
    small = _model(name)
    config = small[1]
    inputs = model_inputs(config, 1, length=6)
    for k, rope_method, scaling, noise in HIDDEN_CASES:
        wide = widen_hidden(*small, k, rope_method=rope_method, scaling=scaling, noise=noise,
                            rng=2)
        assert_valid(*wide)
        assert equivalence_error(small, wide, inputs) <= TOL, (k, rope_method, scaling, noise)
    for k, scaling, noise in HEAD_CASES:
        wide = duplicate_heads(*small, k, scaling=scaling, noise=noise, rng=2)
        assert_valid(*wide)
        assert (wide[1].n_heads, wide[1].n_kv_heads, wide[1].d_model, wide[1].d_ff) == \
            (k * config.n_heads, None if config.n_kv_heads is None else k * config.n_kv_heads,
             k * config.d_model, k * config.d_ff)
        assert equivalence_error(small, wide, inputs) <= TOL, (k, scaling, noise)
    for noise in (0.0, 0.3):
        wide = split_ffn(*small, config.d_ff + 3, noise=noise, rng=2)
        assert_valid(*wide)
        assert equivalence_error(small, wide, inputs) <= TOL, noise


@pytest.mark.parametrize("n_heads, exact", [(1, True), (2, False)])
def test_tiling_is_exact_for_one_head_only(n_heads, exact):
    """repetition="tile" tiles the flat q/k/v axis: a permutation inside the only head,
    but it moves half of head 0 into head 1 when there are two (the post's
    counterexample)."""
    config = TransformerConfig(**dict(_BASE, n_heads=n_heads, positions="none"))
    small = (random_params(config, 0), config)
    for k in (2, 3):
        wide = widen_hidden(*small, k, repetition="tile")
        assert_valid(*wide)
        error = equivalence_error(small, wide, model_inputs(config, 1))
        assert (error <= TOL) if exact else (error > 1e-3)


# -- the tables -------------------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 3])
def test_hidden_states_are_repeated_copies_times_c(k):
    """The token embedding writes the hidden state: repeat(E, k) c under Su's map,
    tile(E, k) c under head duplication, with c = 1/sqrt k or 1."""
    params, config = _model("mlm_gelu")
    table = params["embedding"]["tokens"]
    _close(widen_hidden(params, config, k)[0]["embedding"]["tokens"],
           np.repeat(table, k, axis=1) / np.sqrt(k))
    _close(widen_hidden(params, config, k, scaling="copy")[0]["embedding"]["tokens"],
           np.repeat(table, k, axis=1))
    _close(duplicate_heads(params, config, k)[0]["embedding"]["tokens"],
           np.tile(table, (1, k)) / np.sqrt(k))


@pytest.mark.parametrize("name, homogeneous", [("mlm_gelu", False), ("rope_gqa_relu", True),
                                               ("rope_table", True)])
def test_ffn_table(name, homogeneous):
    """W_up~ = repeat(W_up) / (k c) times 1 (GELU: a pure copy) or 1/sqrt k (ReLU; the
    linear branch of GEGLU, whose gate is a pure copy); b_down~ = c b_down; faithful:
    b_down / k for GELU, the exact c b_down for the homogeneous FFNs."""
    params, config = _model(name)
    ffn, k = _ffn(params), 3
    f = 1 / np.sqrt(k) if homogeneous else 1.0

    def copies(w):
        return np.repeat(np.repeat(w, k, axis=0), k, axis=1)

    for scaling, c in (("orthogonal", 1 / np.sqrt(k)), ("copy", 1.0)):
        wide = _ffn(widen_hidden(params, config, k, scaling=scaling)[0])
        _close(wide["w_up"], copies(ffn["w_up"]) / (k * c) * f)
        _close(wide["b_up"], np.repeat(ffn["b_up"], k) * f)
        _close(wide["b_down"], np.repeat(ffn["b_down"], k) * c)
        if config.gated:
            _close(wide["w_gate"], copies(ffn["w_gate"]) / (k * c))
    faithful = _ffn(widen_hidden(params, config, k, faithful=True)[0])
    _close(faithful["b_down"], np.repeat(ffn["b_down"], k) / (np.sqrt(k) if homogeneous else k))


def test_query_and_key_biases_follow_their_factors():
    """q and k biases are copies times k^(-1/4) (the attention scale) or k^(-1/2): the
    multiset of wide entries is the k-fold multiset of old ones times that factor. Under
    zero_offgrid the keys on the (k-1)/k off-grid rotary pairs are exactly zero."""
    for name, exponent in (("rope_swiglu", -0.25), ("rope_gqa_relu", -0.5),
                           ("none_mqa_relu", -0.25)):
        params, config = _model(name)
        attn, k = _attn(params), 3
        wide = _attn(widen_hidden(params, config, k, rope_method="repeat_frequencies")[0])
        for bias in ("bq", "bk"):
            _close(np.sort(wide[bias]), np.sort(np.repeat(attn[bias], k)) * k**exponent)
        keys = _attn(widen_hidden(params, config, k)[0])["bk"]
        rotary = config.rope_dim if config.positions == "rope" else 0
        assert np.count_nonzero(keys == 0.0) == config.kv_heads * (k - 1) * rotary, name


def test_noise_makes_the_query_copies_differ():
    """With noise the reciprocal factors multiply the q copies by unequal numbers (and the
    k copies by their inverses): no two copies of one query bias are equal any more."""
    params, config = _model("rope_swiglu")
    k = 2
    plain = _attn(widen_hidden(params, config, k, rope_method="repeat_frequencies")[0])["bq"]
    noisy = _attn(widen_hidden(params, config, k, rope_method="repeat_frequencies", noise=0.3,
                               rng=4)[0])["bq"]
    # the plain copies of each old bias are equal; with noise, none of the groups is
    for value in np.unique(plain):
        group = noisy[plain == value]
        assert group.size == k and np.ptp(group) > 1e-3 * np.max(np.abs(group))


def test_a_factor_of_one_changes_nothing_whatever_the_noise():
    """k = 1 has no copies: no noise and no reciprocal factors are added."""
    for name in ("rope_swiglu", "rope_gqa_relu"):
        params, config = _model(name)
        for move in (widen_hidden, duplicate_heads):
            wide, wide_config = move(params, config, 1, noise=0.3, rng=1)
            assert wide_config == config
            assert all(np.array_equal(a, b) for a, b in zip(flat(wide), flat(params),
                                                            strict=True))


def test_duplicated_heads_are_pure_copies_by_default():
    """Without noise, q/k weights and biases of head h + jH equal those of head h times
    1/(k c) (weights) or 1 (biases): tile(W) / (k c), tile(b)."""
    params, config = _model("rope_gqa_relu")
    attn, k = _attn(params), 2
    wide = _attn(duplicate_heads(params, config, k)[0])
    for name in ("q", "k"):
        _close(wide["b" + name], np.tile(attn["b" + name], k))
        _close(wide["w" + name], np.tile(attn["w" + name], (k, k)) * np.sqrt(k) / k)


@pytest.mark.parametrize("k", [2, 3])
def test_norm_eps_of_the_widened_configs(k):
    """eps c^2: eps / k under Su's map, unchanged with pure copies or the post's table; the
    MLM norm reads a pure copy under GELU (keeps eps in mlm_norm_eps), a scaled one under
    ReLU (its own mlm_norm_eps / k, or nothing to record)."""
    def eps(name, move=widen_hidden, **options):
        _, wide = move(*_model(name), k, **options)
        return wide.norm_eps, wide.mlm_norm_eps

    def approx(value):
        return pytest.approx(value, rel=REL, abs=0)

    assert eps("mlm_gelu") == (approx(1e-5 / k), 1e-5)
    assert eps("mlm_gelu", scaling="copy") == (1e-5, None)
    assert eps("mlm_gelu", faithful=True) == (1e-5, None)
    assert eps("mlm_gelu", duplicate_heads) == (approx(1e-5 / k), 1e-5)
    assert eps("rope_swiglu") == (approx(1e-5 / k), None)      # no MLM head: nothing to add
    assert eps("rope_swiglu", duplicate_heads) == (approx(1e-5 / k), None)
    assert eps("none_mqa_relu") == (approx(1e-5 / k), approx(1e-4 / k))
    assert eps("none_mqa_relu", scaling="copy") == (1e-5, 1e-4)
    relu = dataclasses.replace(_model("none_mqa_relu")[1], mlm_norm_eps=None)
    assert widen_hidden(random_params(relu, 0), relu, k)[1].mlm_norm_eps is None


def test_rope_fields_of_the_widened_configs():
    """rotary_dim times k; zero_offgrid keeps old pair p on new pair k p of the standard
    grid of the wide head (an explicit table is carried there, the other pairs take the
    standard base^(-2j/(kR))); repeat_frequencies repeats the table k times."""
    params, config = _model("rope_table")          # rope_dim 4, explicit (1.0, 0.3)
    k, base = 2, config.rope_base
    zeroed = widen_hidden(params, config, k)[1]
    assert zeroed.rope_inv_freq == pytest.approx((1.0, base**-0.25, 0.3, base**-0.75),
                                                 rel=REL)
    assert zeroed.rope_inv_freq[0::2] == (1.0, 0.3)
    repeated = widen_hidden(params, config, k, rope_method="repeat_frequencies")[1]
    assert repeated.rope_inv_freq == (1.0, 1.0, 0.3, 0.3)
    standard = dataclasses.replace(config, rope_inv_freq=None, rope_base=100.0)
    params = random_params(standard, 0)
    assert widen_hidden(params, standard, k)[1].rope_inv_freq is None
    assert widen_hidden(params, standard, 3, rope_method="repeat_frequencies")[1] \
        .rope_inv_freq == tuple(np.repeat(rope.inv_freq(4, 100.0), 3))
    partial = _model("rope_swiglu")
    assert widen_hidden(*partial, 3)[1].rotary_dim == 12
    assert widen_hidden(*partial, 3)[1].rope_inv_freq is None
    learned = widen_hidden(*_model("mlm_gelu"), 2, rope_method="repeat_frequencies")[1]
    assert learned.rope_inv_freq is None and learned.rotary_dim is None


# -- the Net2Net split ------------------------------------------------------------------

def test_split_ffn_copies_units_and_splits_their_outgoing_rows():
    """Unit j copies unit g(j) exactly (its W_up column and bias); its W_down row is
    lambda_j W_down[g(j)] with lambda_j > 0 summing to 1 over the copies of each unit."""
    params, config = _model("rope_swiglu")
    old, new = _ffn(params), _ffn(split_ffn(params, config, 14, rng=5)[0])
    source = np.array([np.flatnonzero(np.all(old["w_up"] == new["w_up"][:, [j]], axis=0))[0]
                       for j in range(14)])
    assert np.array_equal(source[:config.d_ff], np.arange(config.d_ff))
    assert np.array_equal(new["b_up"], old["b_up"][source])
    assert np.array_equal(new["w_gate"], old["w_gate"][:, source])
    fractions = new["w_down"][:, 0] / old["w_down"][source, 0]
    _close(new["w_down"], fractions[:, None] * old["w_down"][source])
    assert np.all(fractions > 0)
    _close(np.bincount(source, fractions), np.ones(config.d_ff))


def test_split_ffn_of_a_single_unit_draws_balanced_fractions():
    """d_ff = 1 split into 200: every new unit copies the only one. The fractions are
    w_j / sum(w) with w_j uniform on [0.5, 1.5] (a well-conditioned split: no copy gets
    more than 3 times another's share), and 200 draws come close to both ends."""
    config = TransformerConfig(**dict(_BASE, d_ff=1, positions="none"))
    params = random_params(config, 0)
    new = _ffn(split_ffn(params, config, 200, rng=6)[0])
    assert np.array_equal(new["w_up"], np.repeat(_ffn(params)["w_up"], 200, axis=1))
    fractions = new["w_down"][:, 0] / _ffn(params)["w_down"][0, 0]
    assert 2.5 < fractions.max() / fractions.min() <= 3.0
    _close(fractions.sum(), 1.0)


# -- errors -----------------------------------------------------------------------------

def test_bad_arguments_of_every_move_are_named():
    params, config = _model("mlm_gelu")
    for move in (lambda **o: widen_hidden(params, config, 2, **o),
                 lambda **o: duplicate_heads(params, config, 2, **o),
                 lambda **o: split_ffn(params, config, 8, **o)):
        with pytest.raises(ValueError, match="noise"):
            move(noise=-0.1)
    for move in (widen_hidden, duplicate_heads):
        with pytest.raises(ValueError, match="k must be at least 1"):
            move(params, config, 0)
    with pytest.raises(ValueError, match="faithful=True.*scaling='copy'"):
        widen_hidden(params, config, 2, faithful=True, scaling="copy")
