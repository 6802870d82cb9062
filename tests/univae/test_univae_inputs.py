"""Tests of refimpl.univae.inputs: the per-layer masks, padding and the fixed-length layout."""

from __future__ import annotations

import numpy as np
import pytest
from univae_cases import CLS, CONFIG, MAXLEN, PAD, PARAMS, SEP, make_config

from refimpl import univae as uv

# ---------------------------------------------------------------- masks and layout


def test_layer_masks_reproduce_the_research_note_example():
    # source [CLS] a b [SEP], target [CLS] a b [SEP]; expected masks from the rule of
    # uniae_mask in univae.py of github.com/bojone/univae at 428c458 (first=False below
    # the switch, first=True from it)
    tokens, segments = [1, 5, 6, 2, 1, 5, 6, 2], [0, 0, 0, 0, 1, 1, 1, 1]
    config = make_config(n_layers=2, n_latent=1)
    independent, uniae = uv.layer_masks(config, tokens, segments)
    source = np.zeros((8, 8), int)
    source[:4, :4] = 1
    expected_independent = source.copy()
    expected_independent[4:, 4:] = np.tril(np.ones((4, 4), int))
    expected_uniae = expected_independent.copy()
    expected_uniae[4:, 0] = 1
    np.testing.assert_array_equal(independent, expected_independent)
    np.testing.assert_array_equal(uniae, expected_uniae)


def test_padding_keys_are_hidden():
    tokens, segments = uv.pack([CLS, 5, SEP], maxlen=4)  # one pad in each half
    for mask in uv.layer_masks(CONFIG, tokens, segments):
        assert not mask[:, tokens == PAD].any()


def test_pack_starts_the_target_at_maxlen_whatever_the_source_length():
    for length in (2, 3, 5):
        tokens, segments = uv.pack(np.arange(1, length + 1), [CLS, 7, SEP], maxlen=MAXLEN)
        assert tokens.shape == (2 * MAXLEN,)
        assert np.flatnonzero(segments)[0] == MAXLEN
        np.testing.assert_array_equal(tokens[MAXLEN:MAXLEN + 3], [CLS, 7, SEP])


@pytest.mark.parametrize("segments, match", [
    ([1, 1, 1, 1, 1, 1], "source \\[CLS\\]"),
    ([0, 0, 1, 0, 1, 1], "source block \\(0\\) followed by a target block"),
    ([0, 0, 2, 1, 1, 1], "segments must hold 0"),
    ([0, 0, 0, 1, 1], "broadcast"),
])
def test_bad_segment_layouts_are_rejected(segments, match):
    with pytest.raises(ValueError, match=match):
        uv.forward(PARAMS, CONFIG, [CLS, 5, SEP, CLS, 5, SEP], segments, "encoder")


def test_padding_at_the_bottleneck_is_rejected():
    with pytest.raises(ValueError, match="position 0"):
        uv.forward(PARAMS, CONFIG, [PAD, 5, SEP, CLS, 5, SEP], [0, 0, 0, 1, 1, 1], "encoder")
