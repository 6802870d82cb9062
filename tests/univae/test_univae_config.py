"""Tests of refimpl.univae.config: invalid configurations and the mask switch."""

from __future__ import annotations

import pytest
from univae_cases import CLS, make_config

from refimpl import univae as uv


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_latent=4), "n_latent must be at most"),
    (dict(n_latent=0), "n_latent"),
    (dict(z_dim=1), "z_dim"),
    (dict(kappa=0.0), "kappa"),
    (dict(mask_switch=0), "mask_switch must lie in \\[1, 3\\]"),
    (dict(pad_id=13), "pad_id"),
])
def test_bad_configs_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_config(**kwargs)


def test_mask_switch_above_the_first_latent_layer_is_allowed():
    config = make_config(n_layers=3, n_latent=2, mask_switch=2)
    masks = uv.layer_masks(config, [CLS, 5, CLS, 5], [0, 0, 1, 1])
    assert [bool(m[2, 0]) for m in masks] == [False, False, True]
