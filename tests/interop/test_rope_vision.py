"""Vision and xPos presets against the libraries they follow (outside truth).

transformers 5.23.0 (Qwen2-VL / GLM-4V vision, Pixtral, DINOv3), timm 1.0.31
(RotaryEmbeddingDinoV3, RotaryEmbeddingMRope, RotaryEmbeddingMixed both indexings,
RotaryEmbeddingCat) and rotary-embedding-torch 0.9.1 (xPos with interpolate_factor).
Each source builds its cos/sin in float32; the rotation is then applied to float64
``x`` with the source's own formula and compared with the preset. Error model: the
float32 angle is off by at most ``eps32 * |angle|`` (plus the float32 frequency, the
same order), so an entry of a rotated unit-scale vector is off by
``4 eps32 (1 + max |angle|) * max |x|``.

timm is optional (it is not in every interop environment): its tests skip without
it. Only ``timm/layers/pos_embed_sincos.py`` and the small modules it imports are
loaded, so timm's heavier optional imports (torchvision, PIL) are not needed.
"""

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from refimpl.rope.grids import centred_grid, index_grid, merge_block_grid  # noqa: E402
from refimpl.testing import presets  # noqa: E402

transformers.logging.set_verbosity_error()
EPS32 = float(np.finfo(np.float32).eps)


def tolerance(angles, x):
    x = x.numpy() if isinstance(x, torch.Tensor) else x
    return 4 * EPS32 * (1 + float(np.max(np.abs(angles)))) * float(np.max(np.abs(x)))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], -1)


def hf_rotate(x, cos, sin):
    return (x * cos.double() + rotate_half(x) * sin.double()).numpy()


def load_timm_rope():
    """``timm.layers.pos_embed_sincos`` without timm's package imports, or skip."""
    if "timm.layers.pos_embed_sincos" in sys.modules:
        return sys.modules["timm.layers.pos_embed_sincos"]
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("timm is not installed")
    root = list(spec.submodule_search_locations)[0]
    for name, path in (("timm", root), ("timm.layers", f"{root}/layers")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules[name] = package
    module = importlib.import_module("timm.layers.pos_embed_sincos")
    version = open(f"{root}/version.py").read()
    if "1.0.31" not in version:
        pytest.skip(f"timm 1.0.31 expected, found {version.strip()}")
    return module


def test_qwen2_vl_vision_tower():
    from transformers import Qwen2VLConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLVisionRotaryEmbedding
    from transformers.vision_utils import get_vision_position_ids
    vision = Qwen2VLConfig(vision_config={"embed_dim": 64, "num_heads": 4}).vision_config
    module = Qwen2VLVisionRotaryEmbedding(vision)
    grid = torch.tensor([[2, 8, 12]])
    position_ids = get_vision_position_ids(grid, 2)
    positions = merge_block_grid((8, 12), 2, frames=2)
    np.testing.assert_array_equal(position_ids.numpy(), positions)
    x = torch.randn(len(positions), 16, dtype=torch.float64)
    cos, sin = module(x, position_ids)
    convention = presets.qwen_vision(16)
    expected = hf_rotate(x, cos, sin)
    got = convention(x.numpy(), positions)
    assert np.max(np.abs(got - expected)) <= tolerance(convention.angles(positions), x)


def test_pixtral_vision():
    from transformers import PixtralVisionConfig
    from transformers.models.pixtral.modeling_pixtral import PixtralVisionRotaryEmbedding
    config = PixtralVisionConfig(hidden_size=64, num_attention_heads=4)
    module = PixtralVisionRotaryEmbedding(config)
    positions = index_grid((5, 7))
    x = torch.randn(len(positions), 16, dtype=torch.float64)
    cos, sin = module(x, torch.tensor(positions, dtype=torch.long))
    convention = presets.pixtral(16)
    got = convention(x.numpy(), positions)
    assert np.max(np.abs(got - hf_rotate(x, cos, sin))) <= tolerance(
        convention.angles(positions), x)


def test_dinov3_hf():
    from transformers import DINOv3ViTConfig
    from transformers.models.dinov3_vit.modeling_dinov3_vit import (
        DINOv3ViTRopePositionEmbedding,
    )
    config = DINOv3ViTConfig(hidden_size=64, num_attention_heads=4, patch_size=16)
    module = DINOv3ViTRopePositionEmbedding(config).eval()  # no training-time augmentation
    cos, sin = module(torch.zeros(1, 3, 16 * 5, 16 * 7))
    positions = centred_grid((5, 7))
    x = torch.randn(len(positions), 16, dtype=torch.float64)
    convention = presets.dinov3(16, config.rope_theta)
    got = convention(x.numpy(), positions)
    assert np.max(np.abs(got - hf_rotate(x, cos, sin))) <= tolerance(
        convention.angles(positions), x)


def _timm_rotate(timm, x, embed, half):
    return timm.apply_rot_embed_cat(x, embed.detach().double(), half=half).numpy()


@pytest.mark.parametrize("normalize", ["separate", "min", "max"])
@pytest.mark.parametrize("periods", [{"temperature": 100.0},
                                     {"temperature": None, "min_period": 0.5,
                                      "max_period": 40.0}])
def test_timm_dinov3(normalize, periods):
    timm = load_timm_rope()
    module = timm.RotaryEmbeddingDinoV3(16, normalize_coords=normalize, **periods)
    embed = module.get_embed((4, 6))
    positions = centred_grid((4, 6), normalize=normalize)
    x = torch.randn(len(positions), 16, dtype=torch.float64)
    convention = presets.dinov3(16, periods["temperature"], min_period=periods.get("min_period"),
                                max_period=periods.get("max_period"))
    got = convention(x.numpy(), positions)
    assert np.max(np.abs(got - _timm_rotate(timm, x, embed, True))) <= tolerance(
        convention.angles(positions), x)


@pytest.mark.parametrize(("head_dim", "sections"), [(72, (8, 12, 12)), (64, (8, 12, 12)),
                                                    (36, (6, 6, 6))])
def test_timm_mrope_non_tiling_sections(head_dim, sections):
    timm = load_timm_rope()
    module = timm.RotaryEmbeddingMRope(head_dim, mrope_section=sections)
    embed = module.get_embed((3, 5))
    positions = index_grid((3, 5))
    x = torch.randn(len(positions), head_dim, dtype=torch.float64)
    convention = presets.timm_mrope(head_dim, sections)
    got = convention(x.numpy(), positions)
    assert np.max(np.abs(got - _timm_rotate(timm, x, embed, True))) <= tolerance(
        convention.angles(positions), x)


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_timm_rope_mixed_both_indexings(indexing):
    timm = load_timm_rope()
    torch.manual_seed(0)
    module = timm.RotaryEmbeddingMixed(32, depth=1, num_heads=2, grid_indexing=indexing)
    embed = module.get_embed((3, 5))[0, 1]  # block 0, head 1
    stored = module.freqs.detach()[:, 0, 1].double().numpy()
    positions = index_grid((3, 5))
    x = torch.randn(len(positions), 16, dtype=torch.float64)
    convention = presets.timm_rope_mixed(16, frequencies=stored, grid_indexing=indexing)
    got = convention(x.numpy(), positions)
    assert np.max(np.abs(got - _timm_rotate(timm, x, embed, False))) <= tolerance(
        convention.angles(positions), x)


def test_timm_eva_cat():
    timm = load_timm_rope()
    module = timm.RotaryEmbeddingCat(16, in_pixels=False, ref_feat_shape=(4, 4))
    embed = module.get_embed((6, 8))
    positions = index_grid((6, 8))
    x = torch.randn(len(positions), 16, dtype=torch.float64)
    convention = presets.timm_eva(16, ref_feat_shape=(4, 4), feat_shape=(6, 8))
    got = convention(x.numpy(), positions)
    assert np.max(np.abs(got - _timm_rotate(timm, x, embed, False))) <= tolerance(
        convention.angles(positions), x)


def test_lucidrains_xpos_with_interpolation():
    """The issue's case: max abs difference about 1.3 before the fix."""
    rotary_embedding_torch = pytest.importorskip("rotary_embedding_torch")
    module = rotary_embedding_torch.RotaryEmbedding(16, use_xpos=True, xpos_scale_base=64,
                                                    interpolate_factor=2.0)
    q = torch.randn(1, 40, 16, dtype=torch.float64)
    k = torch.randn(1, 40, 16, dtype=torch.float64)
    q_rot, k_rot = module.rotate_queries_and_keys(q, k)
    convention = presets.lucidrains(16, use_xpos=True, xpos_scale_base=64.0, xpos_center=20,
                                    interpolate_factor=2.0)
    positions = np.arange(40.0)
    scale = 4 * EPS32 * (1 + 20.0) * 3 * float(max(q.abs().max(), k.abs().max()))
    assert np.max(np.abs(convention(q.numpy()[0], positions) - q_rot.numpy()[0])) <= scale
    assert np.max(np.abs(convention.keys()(k.numpy()[0], positions) - k_rot.numpy()[0])) <= scale
