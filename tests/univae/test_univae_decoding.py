"""Tests of refimpl.univae.decoding: greedy decoding from a code."""

from __future__ import annotations

import numpy as np
import pytest
from univae_cases import CLS, CONFIG, MAXLEN, PAD, PARAMS, SEP

from refimpl import univae as uv

# ---------------------------------------------------------------- decoding


def test_greedy_decoding_follows_the_argmax_of_each_prefix():
    z = uv.sample_prior(CONFIG, rng=3)
    generated = uv.greedy_decode(PARAMS, CONFIG, z, start_id=CLS, end_id=SEP, maxlen=MAXLEN)
    assert 1 <= generated.size <= MAXLEN - 1
    prefix = [CLS]
    for token in generated:
        tokens = np.concatenate([[CLS], np.full(MAXLEN - 1, PAD), prefix])
        segments = np.repeat([0, 1], [MAXLEN, len(prefix)])
        logits = uv.forward(PARAMS, CONFIG, tokens, segments, "decoder", z).logits
        assert token == np.argmax(logits[-1])
        prefix.append(token)
    assert generated[-1] == SEP or generated.size == MAXLEN - 1


@pytest.mark.parametrize("favourite, expected", [(SEP, [SEP]), (7, [7, 7, 7, 7])])
def test_greedy_decoding_stops_at_the_end_token_or_maxlen(favourite, expected):
    params = uv.init_params(CONFIG, rng=1, std=0.5)
    params["transformer"]["output"]["b"][favourite] = 1e3
    generated = uv.greedy_decode(params, CONFIG, uv.sample_prior(CONFIG, rng=0), start_id=CLS,
                                 end_id=SEP, maxlen=MAXLEN)
    np.testing.assert_array_equal(generated, expected)


def test_greedy_decoding_rejects_a_batch_of_codes():
    with pytest.raises(ValueError, match="one code"):
        uv.greedy_decode(PARAMS, CONFIG, np.ones((2, 6)), start_id=CLS, end_id=SEP, maxlen=4)


def test_greedy_decoding_rejects_a_start_id_equal_to_pad_id():
    # the docstring's contract: position 0 (start_id) may not be padding
    z = uv.sample_prior(CONFIG, rng=0)
    with pytest.raises(ValueError, match="must not be padding"):
        uv.greedy_decode(PARAMS, CONFIG, z, start_id=PAD, end_id=SEP, maxlen=4)
