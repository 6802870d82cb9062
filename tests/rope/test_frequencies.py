"""Tests of refimpl.rope.frequencies: the default frequencies and the Hugging Face schedules.

Anchor values come from a float64 transcription of the Hugging Face formulas
(transformers 5.23.0 ``modeling_rope_utils.py``), independent of this code; the band
counts and ranges are also quoted in
third-party reports (vllm PR #28244, jmaczan/tiny-vllm PR #1).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.rope import (
    dynamic_inv_freq,
    inv_freq,
    linear_inv_freq,
    llama3_inv_freq,
    longrope_inv_freq,
    ntk_base,
    scaled_inv_freq,
    yarn_correction_range,
    yarn_inv_freq,
    yarn_mscale,
)

rotary_dims = st.integers(2, 128).map(lambda n: 2 * n)
bases = st.sampled_from([10.0, 1e4, 5e5, 1e6, 150000.0]) | st.floats(1.5, 1e7)
factors = st.sampled_from([1.0, 2.0, 8.0, 32.0, 40.0]) | st.floats(1.0, 100.0)
lengths = st.sampled_from([2048, 4096, 8192, 32768]) | st.integers(64, 10**6)


# -- fixtures --------------------------------------------------------------------------

def test_default_fixtures():
    np.testing.assert_allclose(inv_freq(8), [1.0, 0.1, 0.01, 0.001], rtol=1e-15)
    omega = inv_freq(128)
    assert omega[0] == 1.0
    assert round(float(omega[1]), 6) == 0.865964
    assert round(float(omega[63]), 8) == 1.1548e-4
    assert inv_freq(64).dtype == np.float64


def test_llama3_fixtures():
    omega, factor = llama3_inv_freq(128, 5e5, factor=8.0, low_freq_factor=1.0,
                                    high_freq_factor=4.0, original_max_position_embeddings=8192)
    default = inv_freq(128, 5e5)
    kept, divided = omega == default, omega == default / 8.0
    assert (kept.sum(), (~kept & ~divided).sum(), divided.sum()) == (29, 6, 29)
    np.testing.assert_array_equal(np.flatnonzero(~kept & ~divided), np.arange(29, 35))
    np.testing.assert_allclose(omega[[0, 20, 40, 63]],
                               [1.0, 0.016560440080994446, 3.428102195952591e-05,
                                3.068925988914511e-07], rtol=1e-14)
    assert factor == 1.0
    omega, _ = llama3_inv_freq(64, 5e5, factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                               original_max_position_embeddings=8192)
    default = inv_freq(64, 5e5)
    assert ((omega == default).sum(), (omega == default / 32.0).sum()) == (15, 14)


def test_yarn_fixtures():
    # gpt-oss: D=64, b=150000, s=32, L0=4096, truncate=False
    lo, hi = yarn_correction_range(64, 150000.0, 4096, truncate=False)
    np.testing.assert_allclose([lo, hi], [8.092779115512402, 17.39802450158856], rtol=1e-14)
    assert yarn_correction_range(64, 150000.0, 4096) == (8.0, 18.0)
    _, factor = yarn_inv_freq(64, 150000.0, factor=32.0, original_max_position_embeddings=4096,
                              truncate=False)
    assert np.isclose(factor, 1.3465735902799727, rtol=1e-15)
    # DeepSeek-V3: D=64, b=1e4, s=40, L0=4096, mscale = mscale_all_dim = 1
    omega, factor = yarn_inv_freq(64, 1e4, factor=40.0, original_max_position_embeddings=4096,
                                  mscale=1.0, mscale_all_dim=1.0)
    assert yarn_correction_range(64, 1e4, 4096) == (10.0, 23.0)
    assert factor == 1.0
    assert np.isclose(yarn_mscale(40.0, 1.0) ** 2, 1.8738542070926265, rtol=1e-15)
    np.testing.assert_allclose(omega[[10, 20, 31]], [0.056234132519034905,
                                                     0.0007905694150420947,
                                                     3.33380358040831e-06], rtol=1e-14)
    # Qwen-style: D=128, b=1e6, s=4, L0=32768, and the L0 fallback pitfall
    assert yarn_correction_range(128, 1e6, 32768) == (23.0, 40.0)
    assert yarn_correction_range(128, 1e6, 131072) == (30.0, 47.0)
    _, factor = yarn_inv_freq(128, 1e6, factor=4.0, original_max_position_embeddings=32768)
    assert np.isclose(factor, 1.138629436111989, rtol=1e-15)


def test_yarn_clamps_at_rotary_dim_minus_one_and_separates_equal_ends():
    """transformers 5.23.0 _compute_yarn_parameters: hi is clamped to R - 1 (not P - 1);
    lo == hi gets hi += 0.001.

    R = 8, b = 10, L0 = 4096: d(32) = 8 ln(4096 / 64 pi) / (2 ln 10) = 5.24 and
    d(1) = 8 ln(4096 / 2 pi) / (2 ln 10) = 11.26, so (floor, ceil) = (5, 12) -> (5, 7).
    """
    assert yarn_correction_range(8, 10.0, 4096) == (5.0, 7.0)
    assert yarn_correction_range(8, 10.0, 4096, truncate=False)[1] == 7.0
    # L0 = 4 < 2 pi: both ends clamp to 0; the ramp is then 0 at k = 0 and 1 beyond.
    assert yarn_correction_range(8, 1e4, 4) == (0.0, 0.0)
    omega, _ = yarn_inv_freq(8, 1e4, factor=2.0, original_max_position_embeddings=4)
    np.testing.assert_allclose(omega, [1.0, 0.05, 0.005, 0.0005], rtol=1e-15)


def test_dynamic_and_static_ntk_fixtures():
    assert np.isclose(ntk_base(1e4, 3.0, 128), 30527.7367488067, rtol=1e-14)
    omega, factor = dynamic_inv_freq(128, 1e4, factor=2.0, max_position_embeddings=4096,
                                     seq_len=8192)
    assert np.isclose(omega[63], 3.849273282298194e-05, rtol=1e-14) and factor == 1.0
    np.testing.assert_array_equal(
        dynamic_inv_freq(128, 1e4, factor=2.0, max_position_embeddings=4096, seq_len=4096)[0],
        inv_freq(128, 1e4))


def test_longrope_fixture_and_switch():
    short, long = np.ones(32), np.linspace(1.0, 4.0, 32)
    common = dict(short_factor=short, long_factor=long, original_max_position_embeddings=4096,
                  max_position_embeddings=131072)
    omega, factor = longrope_inv_freq(64, **common, seq_len=4096)
    assert np.isclose(factor, 1.1902380714238083, rtol=1e-15)
    np.testing.assert_array_equal(omega, inv_freq(64))
    omega, _ = longrope_inv_freq(64, **common, seq_len=4097)
    np.testing.assert_allclose(omega, inv_freq(64) / long, rtol=1e-15)
    assert longrope_inv_freq(64, **common, seq_len=10, factor=1.0)[1] == 1.0
    assert longrope_inv_freq(64, **common, seq_len=10, attention_factor=1.5)[1] == 1.5


# -- schedule invariants ---------------------------------------------------------------

@given(rotary_dims, bases, factors)
def test_linear_is_default_divided_by_factor(dim, base, factor):
    omega, attention = linear_inv_freq(dim, base, factor=factor)
    np.testing.assert_array_equal(omega, inv_freq(dim, base) / factor)
    assert attention == 1.0


@given(rotary_dims.filter(lambda d: d >= 4), bases, factors, lengths, st.data())
def test_dynamic_equals_default_up_to_max_position(dim, base, factor, length, data):
    seq_len = data.draw(st.integers(1, length))
    omega, _ = dynamic_inv_freq(dim, base, factor=factor, max_position_embeddings=length,
                                seq_len=seq_len)
    np.testing.assert_array_equal(omega, inv_freq(dim, base))
    longer, _ = dynamic_inv_freq(dim, base, factor=factor, max_position_embeddings=length,
                                 seq_len=length + data.draw(st.integers(1, 10**6)))
    assert np.all(longer <= omega) and longer[0] == 1.0


@given(rotary_dims, bases, lengths, st.booleans())
def test_yarn_at_factor_one_is_default(dim, base, length, truncate):
    omega, attention = yarn_inv_freq(dim, base, factor=1.0, original_max_position_embeddings=length,
                                     truncate=truncate)
    # (1 - keep) + keep may round to 1 - u, so allow an ulp or two.
    np.testing.assert_allclose(omega, inv_freq(dim, base), rtol=4e-16)
    assert attention == 1.0


@given(rotary_dims, bases, factors, lengths, st.floats(1.0, 8.0), st.floats(1.01, 8.0))
def test_llama3_keeps_high_band_and_divides_low_band(dim, base, factor, length, low, ratio):
    high = low * ratio
    omega, _ = llama3_inv_freq(dim, base, factor=factor, low_freq_factor=low,
                               high_freq_factor=high, original_max_position_embeddings=length)
    default = inv_freq(dim, base)
    wavelength = 2 * np.pi / default
    short, long = wavelength < length / high, wavelength > length / low
    np.testing.assert_array_equal(omega[short], default[short])
    np.testing.assert_array_equal(omega[long], default[long] / factor)
    middle = ~short & ~long
    assert np.all(omega[middle] <= default[middle] * (1 + 1e-15))
    assert np.all(omega[middle] >= default[middle] / factor * (1 - 1e-15))


@given(rotary_dims.filter(lambda d: d >= 4), bases, factors, lengths, st.data())
def test_every_schedule_is_positive_and_non_increasing(dim, base, factor, length, data):
    pairs = dim // 2
    long = np.sort(data.draw(st.lists(st.floats(1.0, 64.0), min_size=pairs, max_size=pairs)))
    seq_len = data.draw(st.integers(1, 4 * length))
    schedules = [
        scaled_inv_freq("default", dim, base),
        scaled_inv_freq("linear", dim, base, factor=factor),
        scaled_inv_freq("dynamic", dim, base, factor=factor, max_position_embeddings=length,
                        seq_len=seq_len),
        scaled_inv_freq("yarn", dim, base, factor=factor, original_max_position_embeddings=length,
                        truncate=data.draw(st.booleans())),
        scaled_inv_freq("longrope", dim, base, short_factor=np.ones(pairs), long_factor=long,
                        original_max_position_embeddings=length, seq_len=seq_len, factor=factor),
        scaled_inv_freq("llama3", dim, base, factor=factor, low_freq_factor=1.0,
                        high_freq_factor=4.0, original_max_position_embeddings=length),
    ]
    for omega, attention in schedules:
        assert omega.shape == (pairs,) and omega.dtype == np.float64
        assert np.all(omega > 0) and np.all(np.diff(omega) <= 0)
        assert np.isfinite(attention) and attention >= 1.0


@given(rotary_dims.filter(lambda d: d >= 4), bases, factors)
def test_static_ntk_slows_the_slowest_pair_by_the_factor(dim, base, factor):
    """b' = b s^(d/(d-2)) leaves omega_0 = 1 and divides omega_(d/2-1) by s."""
    scaled = inv_freq(dim, ntk_base(base, factor, dim))
    assert scaled[0] == 1.0
    assert np.isclose(scaled[-1], inv_freq(dim, base)[-1] / factor, rtol=1e-12)


def test_yarn_attention_factor_rules():
    common = dict(factor=4.0, original_max_position_embeddings=4096)
    assert yarn_inv_freq(64, **common, attention_factor=0.7)[1] == 0.7
    g = 0.1 * np.log(4.0) + 1.0
    assert np.isclose(yarn_inv_freq(64, **common)[1], g, rtol=1e-15)
    assert np.isclose(yarn_inv_freq(64, **common, mscale=2.0, mscale_all_dim=1.0)[1],
                      (0.2 * np.log(4.0) + 1.0) / g, rtol=1e-15)
    assert np.isclose(yarn_inv_freq(64, **common, mscale=2.0)[1], g, rtol=1e-15)
    assert yarn_inv_freq(64, 1e4, original_max_position_embeddings=4096,
                         max_position_embeddings=16384)[0].tolist() == \
        yarn_inv_freq(64, 1e4, **common)[0].tolist()


# -- bad input -------------------------------------------------------------------------

def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match="rotary_dim=7"):
        inv_freq(7)
    with pytest.raises(ValueError, match="base"):
        inv_freq(8, base=1.0)
    with pytest.raises(ValueError, match="base"):
        inv_freq(8, base=0.5)
    with pytest.raises(ValueError, match="rope_type"):
        scaled_inv_freq("ntk", 8)
    with pytest.raises(TypeError, match="factor"):
        scaled_inv_freq("linear", 8)
    with pytest.raises(TypeError, match="max_position_embeddings"):
        scaled_inv_freq("dynamic", 8, factor=2.0)
    with pytest.raises(TypeError, match="original_max_position_embeddings"):
        scaled_inv_freq("yarn", 8, factor=2.0)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        scaled_inv_freq("yarn", 8, original_max_position_embeddings=4096)
    with pytest.raises(TypeError, match="low_freq_factor"):
        scaled_inv_freq("llama3", 8, factor=8.0, high_freq_factor=4.0,
                        original_max_position_embeddings=8192)
    with pytest.raises(TypeError, match="factor"):
        scaled_inv_freq("linear", 8, factor=None)
    with pytest.raises(ValueError, match="factor must be >= 1.*only rope_type='linear'"):
        scaled_inv_freq("llama3", 8, factor=0.5, low_freq_factor=1.0, high_freq_factor=4.0,
                        original_max_position_embeddings=8192)
    with pytest.raises(ValueError, match="factor must be positive"):
        scaled_inv_freq("linear", 8, factor=0.0)
    with pytest.raises(ValueError, match="high_freq_factor"):
        llama3_inv_freq(8, factor=8.0, low_freq_factor=4.0, high_freq_factor=1.0,
                        original_max_position_embeddings=8192)
    with pytest.raises(ValueError, match="beta_fast"):
        yarn_correction_range(8, 1e4, 4096, beta_fast=0.5, beta_slow=1.0)
    with pytest.raises(ValueError, match="long_factor"):
        longrope_inv_freq(8, short_factor=np.ones(4), long_factor=np.ones(3),
                          original_max_position_embeddings=16, seq_len=17, factor=2.0)
    with pytest.raises(ValueError, match="rotary_dim >= 4"):
        ntk_base(1e4, 2.0, 2)
    with pytest.raises(TypeError, match="truncate"):
        yarn_correction_range(8, 1e4, 4096, truncate="no")
    with pytest.raises(TypeError, match=r"scaled_inv_freq\('default'\) got unknown .*'factor'"):
        scaled_inv_freq("default", 8, factor=2.0)


# -- issue #19: proportional, seq_len=None, and the deliberate decisions -------------------

def test_proportional_fixture():
    """Hand-derived: D = 8, b = 10, partial 0.5 -> R = int(0.5 * 8 // 2) = 2 rotated pairs
    with exponents 2k/8 (the whole head), the other 2 pairs at frequency 0; factor 2 halves."""
    omega, attention = scaled_inv_freq("proportional", 8, 10.0, partial_rotary_factor=0.5,
                                       factor=2.0)
    np.testing.assert_allclose(omega, [0.5, 0.5 / 10**0.25, 0.0, 0.0], rtol=1e-15)
    assert attention == 1.0
    full, _ = scaled_inv_freq("proportional", 8, 10.0)
    np.testing.assert_array_equal(full, inv_freq(8, 10.0))
    none, _ = scaled_inv_freq("proportional", 8, 10.0, partial_rotary_factor=0.0)
    np.testing.assert_array_equal(none, np.zeros(4))


@given(rotary_dims, bases, st.floats(0.0, 1.0))
def test_proportional_keeps_a_prefix_of_the_full_head(dim, base, share):
    omega, _ = scaled_inv_freq("proportional", dim, base, partial_rotary_factor=share)
    rotated = int(share * dim // 2)
    assert omega.shape == (dim // 2,)
    np.testing.assert_array_equal(omega[:rotated], inv_freq(dim, base)[:rotated])
    assert np.all(omega[rotated:] == 0.0)


@given(rotary_dims.filter(lambda d: d >= 4), bases, factors, lengths)
def test_seq_len_none_is_the_initialisation(dim, base, factor, length):
    """HF's init: dynamic at L = max_position_embeddings (the default frequencies),
    longrope with the short factors."""
    omega, _ = dynamic_inv_freq(dim, base, factor=factor, max_position_embeddings=length)
    np.testing.assert_array_equal(omega, inv_freq(dim, base))
    short, long = np.full(dim // 2, 2.0), np.full(dim // 2, 3.0)
    omega, _ = longrope_inv_freq(dim, base, short_factor=short, long_factor=long,
                                 original_max_position_embeddings=length, factor=factor)
    np.testing.assert_allclose(omega, inv_freq(dim, base) / 2.0, rtol=1e-15)


@given(rotary_dims, bases, st.floats(0.01, 0.99))
def test_linear_factor_below_one_stretches_positions(dim, base, factor):
    omega, _ = linear_inv_freq(dim, base, factor=factor)
    np.testing.assert_array_equal(omega, inv_freq(dim, base) / factor)
    assert np.all(omega >= inv_freq(dim, base))


def test_odd_widths_follow_hugging_face():
    """int(64 * 0.3) = 19: ten frequencies 1/b^(2k/19), k = 0..9 (HF rounds the width up)."""
    omega, _ = scaled_inv_freq("default", 19, 10000.0)
    np.testing.assert_allclose(omega, 10000.0 ** (-2.0 * np.arange(10) / 19), rtol=1e-14)
    linear, _ = scaled_inv_freq("linear", 19, 10000.0, factor=4.0)
    np.testing.assert_allclose(linear, omega / 4.0, rtol=1e-15)
    dynamic, _ = scaled_inv_freq("dynamic", 19, 10000.0, factor=2.0,
                                 max_position_embeddings=100, seq_len=300)
    # b' = b (2 * 3 - 1)^(19/17), exponents 2k/19
    np.testing.assert_allclose(dynamic, (1e4 * 5.0 ** (19 / 17)) ** (-2.0 * np.arange(10) / 19),
                               rtol=1e-13)
    with pytest.raises(ValueError, match="yarn needs an even rotary_dim.*fails to broadcast"):
        scaled_inv_freq("yarn", 19, factor=2.0, original_max_position_embeddings=64)
    with pytest.raises(ValueError, match="rotary_dim=19"):
        inv_freq(19)


def test_yarn_beta_order():
    with pytest.raises(ValueError, match="beta_fast >= beta_slow.*beta_fast=1 < beta_slow=32"):
        yarn_inv_freq(64, factor=4.0, original_max_position_embeddings=4096, beta_fast=1.0,
                      beta_slow=32.0)
    # Equal betas: a step at one index (HF's hi += 0.001 when truncation makes lo == hi).
    omega, _ = yarn_inv_freq(64, factor=4.0, original_max_position_embeddings=4096,
                             beta_fast=8.0, beta_slow=8.0, truncate=False)
    default = inv_freq(64)
    lo, _ = yarn_correction_range(64, 1e4, 4096, beta_fast=8.0, beta_slow=8.0, truncate=False)
    k = np.arange(32)
    np.testing.assert_allclose(omega[k < lo], default[k < lo], rtol=1e-15)
    np.testing.assert_allclose(omega[k > lo + 0.001], default[k > lo + 0.001] / 4.0, rtol=1e-15)


def test_parameter_errors_teach_the_hugging_face_names():
    with pytest.raises(TypeError, match="rope_theta.*base=rope_theta.*from_hf_config"):
        scaled_inv_freq("default", 8, rope_theta=1e6)
    with pytest.raises(TypeError, match=r"rotary_dim=int\(head_dim \* partial_rotary_factor\)"):
        scaled_inv_freq("linear", 8, factor=2.0, partial_rotary_factor=0.5)
    with pytest.raises(TypeError, match=r"scaled_inv_freq\('longrope'\) needs keyword "
                                        "parameter.*short_factor, long_factor"):
        scaled_inv_freq("longrope", 8, original_max_position_embeddings=16)
