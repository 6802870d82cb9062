# Over 600 lines: one short builder per public convention, next to the registry they fill.
"""Named RoPE conventions of the major implementations, built from refimpl's functions.

A :class:`RopeConvention` says everything that distinguishes one RoPE from another: the
frequency matrix ``F`` (angles ``= (positions + offset) @ F``; 1-D RoPE has one row,
``inv_freq``), the pair layout, which block of the head rotates, and the magnitude that
multiplies cos and sin. Calling it rotates ``x`` exactly (float64, via
:func:`refimpl.rope.apply`), so it is the reference a foreign function is compared
with in :func:`refimpl.testing.check_rope`.

The builders below reproduce public implementations; each docstring names the source
file and version it follows (transformers 5.23.0, timm 1.0.31, rotary-embedding-torch
0.9.1, the reference repositories), and tests/interop/test_rope_*.py measures the
agreement with the installed libraries. "Compare my function
with the HF YaRN convention at these settings" reads::

    expected = hugging_face(128, "yarn", base=1e6, factor=4.0,
                            original_max_position_embeddings=32768)
    print(check_rope(my_rope, head_dim=128, expect=expected))

One convention for every preset with 2-D or 3-D positions: positions are ``(row, col)``
(an ``"ij"`` grid, :func:`refimpl.rope.grids.index_grid`) and ``(t, h, w)``, whatever
order the source stores its frequency rows in; a preset built from a source's stored
frequencies (``timm_rope_mixed(frequencies=...)``) takes them in the source's order and
says how it maps them. A Hugging Face config gives its preset through
:func:`refimpl.rope.from_hf_config` (``.preset()``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from refimpl._validation import as_float_array, as_int, as_scalar, check_choice
from refimpl.rope import apply, inv_freq
from refimpl.rope.frequencies import ROPE_TYPES, scaled_inv_freq
from refimpl.rope.nd import (
    axial_frequencies,
    frequencies_from_axis_map,
    mixed_frequencies,
    mrope_frequencies,
)

__all__ = ["RopeConvention", "hugging_face", "meta_llama", "gpt_neox", "gpt_j", "lucidrains",
           "lucidrains_axial", "timm_eva", "timm_rope_mixed", "qwen2_vl_mrope",
           "qwen3_vl_mrope", "llama4_vision", "qwen_vision", "pixtral", "dinov3", "glm4v_mrope",
           "timm_mrope", "PRESETS", "EXAMPLE_SETTINGS", "preset"]


@dataclass(frozen=True, eq=False)
class RopeConvention:
    """One RoPE convention: ``x -> rotate(x[start:start+2P], (positions + offset) @ F)``.

    Attributes
    ----------
    name : str
        Short name for reports (``"hf-yarn"``).
    head_dim : int
        Feature dimension ``D`` of the rotated vectors.
    frequencies : ndarray, shape (n_axes, P)
        Angle of pair ``k`` per unit of position along axis ``a``.
    layout : {"interleaved", "half"}
        Pairs ``(2k, 2k+1)`` or ``(k, k+P)`` within the rotary block.
    rotary_start : int
        First rotated feature (0 for every preset except lucidrains ``start_index``).
    position_offset : tuple of float
        Added to the positions before the angles (Llama-4 vision: ``(1, 1)``).
    magnitude : float
        Multiplies cos and sin (Hugging Face ``attention_scaling``).
    source : str
        The source file (and version) the convention follows.
    parameters : dict
        The settings the preset was built with, for reports.
    alternatives : tuple of (str, ndarray)
        Known misreadings of this convention's frequencies (e.g. YaRN with the
        ``truncate`` flag flipped), used to name a fault when frequencies disagree.
    xpos_scale_base : float or None
        xPos (lucidrains ``use_xpos``): pair ``k`` is further scaled by
        ``zeta_k^(+-(p - xpos_center) / xpos_scale_base)`` with
        ``zeta_k = (2k + 0.4 R) / (1.4 R)``, ``+`` for queries and ``-`` for keys.
    xpos_center : float
        Position where the xPos scale is 1 (lucidrains: ``seq_len // 2``), in units of
        the interpolated position ``p / xpos_interpolate_factor``.
    xpos_interpolate_factor : float
        lucidrains divides the positions by ``interpolate_factor`` before xPos as well:
        the exponent is ``(p / f - xpos_center) / xpos_scale_base``.
    role : {"query", "key"}
        Which side of an xPos pair this convention rotates (:meth:`keys`).
    """

    name: str
    head_dim: int
    frequencies: np.ndarray
    layout: str
    rotary_start: int = 0
    position_offset: tuple[float, ...] = ()
    magnitude: float = 1.0
    source: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    alternatives: tuple[tuple[str, np.ndarray], ...] = ()
    xpos_scale_base: float | None = None
    xpos_center: float = 0.0
    role: str = "query"
    xpos_interpolate_factor: float = 1.0

    def __post_init__(self) -> None:
        frequencies = np.atleast_2d(as_float_array(self.frequencies, "frequencies"))
        object.__setattr__(self, "frequencies", frequencies)
        check_choice(self.layout, "layout", ("interleaved", "half"))
        if self.rotary_start + 2 * frequencies.shape[1] > self.head_dim:
            raise ValueError(f"rotary block [{self.rotary_start}, "
                             f"{self.rotary_start + 2 * frequencies.shape[1]}) does not fit "
                             f"head_dim={self.head_dim}")
        offset = self.position_offset or (0.0,) * frequencies.shape[0]
        if len(offset) != frequencies.shape[0]:
            raise ValueError(f"position_offset must have {frequencies.shape[0]} entries, "
                             f"got {self.position_offset}")
        object.__setattr__(self, "position_offset", tuple(float(c) for c in offset))
        check_choice(self.role, "role", ("query", "key"))
        if self.xpos_scale_base is not None and frequencies.shape[0] != 1:
            raise ValueError(f"xPos needs 1-D positions, got {frequencies.shape[0]} axes")

    def keys(self) -> RopeConvention:
        """The same convention for keys (differs from queries only with xPos)."""
        return replace(self, role="key")

    def magnitudes(self, positions: Any) -> Any:
        """What multiplies cos and sin at ``positions``: ``magnitude``, times xPos' scale.

        Returns a float without xPos, else an array of shape ``positions.shape + (P,)``.
        """
        if self.xpos_scale_base is None:
            return self.magnitude
        rotary = self.rotary_dim
        zeta = (np.arange(0, rotary, 2) + 0.4 * rotary) / (1.4 * rotary)
        positions = as_float_array(positions, "positions")
        positions = positions[..., 0] if positions.shape[-1:] == (1,) else positions
        power = (positions / self.xpos_interpolate_factor - self.xpos_center) \
            / self.xpos_scale_base
        sign = 1.0 if self.role == "query" else -1.0
        return self.magnitude * zeta ** (sign * power[..., None])

    @property
    def n_axes(self) -> int:
        """Number of position axes (rows of ``frequencies``)."""
        return self.frequencies.shape[0]

    @property
    def rotary_dim(self) -> int:
        """Number of rotated features, ``2P``."""
        return 2 * self.frequencies.shape[1]

    def angles(self, positions: Any) -> np.ndarray:
        """``(positions + offset) @ F``; positions ``(...,)`` for 1-D or ``(..., n_axes)``."""
        positions = as_float_array(positions, "positions")
        if self.n_axes == 1 and (positions.ndim == 0 or positions.shape[-1] != 1):
            positions = positions[..., None]
        if positions.shape[-1] != self.n_axes:
            raise ValueError(f"positions must have {self.n_axes} entries on the last axis, "
                             f"got shape {positions.shape}")
        return (positions + np.array(self.position_offset)) @ self.frequencies

    def __call__(self, x: Any, positions: Any) -> np.ndarray:
        """Rotate ``x`` of shape ``(..., head_dim)`` at ``positions`` (float64 reference)."""
        x = as_float_array(x, "x")
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"x must have head_dim={self.head_dim} features, got shape {x.shape}")
        start, stop = self.rotary_start, self.rotary_start + self.rotary_dim
        magnitude = self.magnitudes(positions)
        rotated = apply(x[..., start:stop], self.angles(positions), layout=self.layout,
                        magnitude=None if np.isscalar(magnitude) and magnitude == 1.0
                        else magnitude)
        out = np.array(np.broadcast_to(x, rotated.shape[:-1] + x.shape[-1:]))
        out[..., start:stop] = rotated
        return out


def _one_axis(name: str, head_dim: int, omega: np.ndarray, layout: str, source: str,
              **options: Any) -> RopeConvention:
    return RopeConvention(name, as_int(head_dim, "head_dim", minimum=2), omega[None], layout,
                          source=source, **options)


def hugging_face(head_dim: int = 128, rope_type: str = "default", base: float = 10000.0, *,
                 partial_rotary_factor: float = 1.0, **parameters: Any) -> RopeConvention:
    """Hugging Face transformers: half layout (``rotate_half``), any ``rope_type``.

    ``R = int(head_dim * partial_rotary_factor)`` leading features rotate with pairs
    ``(k, k + R/2)`` (an odd ``R`` rotates ``R + 1``, as Hugging Face rounds it up;
    ``proportional`` rotates the whole head); frequencies and the attention factor
    (which multiplies cos and sin) come from
    :func:`refimpl.rope.frequencies.scaled_inv_freq` with the ``rope_type``'s
    ``rope_parameters`` (``factor``, ``original_max_position_embeddings``,
    ``beta_fast``, ``truncate``, ...; ``dynamic`` and ``longrope`` also take the
    ``seq_len`` Hugging Face reads from ``position_ids``). For ``yarn`` the preset also
    knows the frequencies with ``truncate`` flipped, so a mismatch there is named.
    Hugging Face computes angles in float32: check such a function with
    ``dtype="float32"``. Source: transformers 5.23.0 ``modeling_rope_utils.py`` and
    ``models/llama/modeling_llama.py`` (``models/gpt_neox`` for partial rotary).

    Examples
    --------
    >>> yarn = hugging_face(64, "yarn", 150000.0, factor=32.0,
    ...                     original_max_position_embeddings=4096, truncate=False)
    >>> round(yarn.magnitude, 12), yarn.name
    (1.34657359028, 'hf-yarn')
    """
    head_dim = as_int(head_dim, "head_dim", minimum=2)
    share = as_scalar(partial_rotary_factor, "partial_rotary_factor", positive=True)
    rotary = int(head_dim * share)
    if rope_type == "proportional":
        rotary, parameters = head_dim, {**parameters, "partial_rotary_factor": share}
    omega, attention = scaled_inv_freq(rope_type, rotary, base, **parameters)
    alternatives: tuple[tuple[str, np.ndarray], ...] = ()
    if rope_type == "yarn":
        flipped = not parameters.get("truncate", True)
        other, _ = scaled_inv_freq("yarn", rotary, base, **{**parameters, "truncate": flipped})
        alternatives = ((f"YaRN with truncate={flipped} (the truncate flag flipped)", other),)
    return _one_axis(f"hf-{rope_type}", head_dim, omega, "half",
                     "transformers 5.23.0 modeling_rope_utils.py, "
                     "models/llama/modeling_llama.py",
                     magnitude=attention, alternatives=alternatives,
                     parameters={"base": base, "partial_rotary_factor": partial_rotary_factor,
                                 **parameters})


def meta_llama(head_dim: int = 128, base: float = 10000.0, *, use_scaled_rope: bool = False,
               scale_factor: float = 8.0) -> RopeConvention:
    """Meta Llama 1/2/3 reference code: interleaved complex pairs, full head.

    ``omega_k = 1 / base^(2k/D)`` (``precompute_freqs_cis``), pairs ``(2k, 2k+1)``
    multiplied by ``exp(i p omega_k)`` (``apply_rotary_emb``). Llama 2 uses
    ``base=10000``, Llama 3 ``500000``. Source: ``meta-llama/llama`` ``llama/model.py``
    and ``meta-llama/llama-models`` ``models/llama3/reference_impl/model.py``.
    Meta computes in float32/complex64; this reference is float64. ``use_scaled_rope``
    applies Llama 3.1's ``apply_scaling`` (low 1, high 4, original length 8192; the
    factor is hard-coded 8 in the code read, 32 in Llama 3.2 configs).

    Examples
    --------
    >>> meta_llama(8)(np.eye(8)[0], 1.0)[:2].round(6)
    array([0.540302, 0.841471])
    """
    omega = inv_freq(head_dim, base)
    if use_scaled_rope:
        omega, _ = scaled_inv_freq("llama3", head_dim, base, factor=scale_factor,
                                   low_freq_factor=1.0, high_freq_factor=4.0,
                                   original_max_position_embeddings=8192)
    return _one_axis("meta-llama", head_dim, omega, "interleaved",
                     "meta-llama/llama llama/model.py; llama-models reference_impl/model.py",
                     parameters={"base": base, "use_scaled_rope": use_scaled_rope})


def gpt_neox(head_dim: int = 128, rotary_pct: float = 0.25, base: float = 10000.0
             ) -> RopeConvention:
    """GPT-NeoX: half layout on the leading ``R = int(D * rotary_pct)`` features.

    ``omega_k = 1 / base^(2k/R)`` with the rotary width in the exponent; pairs
    ``(k, k + R/2)``; features ``R..D-1`` pass through. Source: ``EleutherAI/gpt-neox``
    ``megatron/model/positional_embeddings.py`` (and HF ``gpt_neox``,
    ``partial_rotary_factor``).

    Examples
    --------
    >>> gpt_neox(64).rotary_dim
    16
    """
    rotary = int(as_int(head_dim, "head_dim", minimum=2) * as_scalar(rotary_pct, "rotary_pct",
                                                                     positive=True))
    return _one_axis("gpt-neox", head_dim, inv_freq(rotary, base), "half",
                     "EleutherAI/gpt-neox megatron/model/positional_embeddings.py",
                     parameters={"rotary_pct": rotary_pct, "base": base})


def gpt_j(head_dim: int = 256, rotary_dim: int = 64, base: float = 10000.0) -> RopeConvention:
    """GPT-J: interleaved (``rotate_every_two``) on the leading ``rotary_dim`` features.

    ``omega_k = 1 / 10000^(2k/R)`` (the base is hard-coded in the original), pairs
    ``(2k, 2k+1)`` inside the first ``R`` features. Source: ``kingoflolz/
    mesh-transformer-jax`` ``mesh_transformer/layers.py`` (HF ``gptj``).

    Examples
    --------
    >>> gpt_j(16, 8).frequencies.round(3)
    array([[1.   , 0.1  , 0.01 , 0.001]])
    """
    return _one_axis("gpt-j", head_dim, inv_freq(rotary_dim, base), "interleaved",
                     "kingoflolz/mesh-transformer-jax mesh_transformer/layers.py",
                     parameters={"rotary_dim": rotary_dim, "base": base})


def lucidrains(head_dim: int = 64, dim: int | None = None, theta: float = 10000.0, *,
               start_index: int = 0, interpolate_factor: float = 1.0,
               theta_rescale_factor: float = 1.0, use_xpos: bool = False,
               xpos_scale_base: float = 512.0, xpos_center: float = 0.0) -> RopeConvention:
    """lucidrains ``rotary-embedding-torch`` 0.9.1, ``freqs_for='lang'``.

    ``theta' = theta * theta_rescale_factor^(dim/(dim-2))`` (static NTK),
    ``omega_k = 1/theta'^(2k/dim)``, positions divided by ``interpolate_factor``
    (linear interpolation), interleaved pairs on features ``[start_index,
    start_index + dim)`` (``apply_rotary_emb``). With ``use_xpos`` queries are scaled by
    ``zeta_k^((p/f - c)/xpos_scale_base)`` and keys by its inverse (``f`` the
    ``interpolate_factor``: the library's ``get_scale`` sees the interpolated positions),
    ``zeta_k = (2k + 0.4 dim)/(1.4 dim)`` (``rotate_queries_and_keys``; the library
    centres at ``c = seq_len // 2``: pass it as ``xpos_center``); the keys' convention
    is :meth:`RopeConvention.keys`, and :func:`refimpl.testing.check_rope_pair` checks
    a q/k function against the pair. Source:
    ``rotary_embedding_torch/rotary_embedding_torch.py``.

    Examples
    --------
    >>> lucidrains(8, 4, start_index=2).rotary_start
    2
    >>> xpos = lucidrains(8, use_xpos=True, xpos_scale_base=2.0)
    >>> float(xpos.magnitudes(2.0)[0]), float(xpos.keys().magnitudes(2.0)[0])  # zeta_0 = 0.4/1.4
    (0.2857142857142857, 3.5)
    """
    dim = head_dim if dim is None else as_int(dim, "dim", minimum=2)
    theta = theta * theta_rescale_factor ** (dim / (dim - 2))
    omega = inv_freq(dim, theta) / as_scalar(interpolate_factor, "interpolate_factor",
                                             positive=True)
    xpos = as_scalar(xpos_scale_base, "xpos_scale_base", positive=True) if use_xpos else None
    return _one_axis("lucidrains-xpos" if use_xpos else "lucidrains", head_dim, omega,
                     "interleaved", "lucidrains rotary_embedding_torch/rotary_embedding_torch.py",
                     rotary_start=start_index, xpos_scale_base=xpos, xpos_center=xpos_center,
                     xpos_interpolate_factor=float(interpolate_factor),
                     parameters={"dim": dim, "theta": theta, "start_index": start_index,
                                 "interpolate_factor": interpolate_factor,
                                 "use_xpos": use_xpos, "xpos_scale_base": xpos_scale_base,
                                 "xpos_center": xpos_center})


def lucidrains_axial(head_dim: int = 64, n_axes: int = 2, theta: float = 10000.0
                     ) -> RopeConvention:
    """lucidrains ``get_axial_freqs``: each axis's interleaved angles, concatenated in order.

    Every axis runs ``'lang'`` RoPE of width ``D / n_axes`` on its own consecutive block,
    axis 0 first: :func:`refimpl.rope.nd.axial_frequencies` in the interleaved layout.
    Source: ``rotary_embedding_torch/rotary_embedding_torch.py`` (``get_axial_freqs``).

    Examples
    --------
    >>> lucidrains_axial(8).frequencies
    array([[1.  , 0.01, 0.  , 0.  ],
           [0.  , 0.  , 1.  , 0.01]])
    """
    return RopeConvention("lucidrains-axial", head_dim,
                          axial_frequencies(head_dim, n_axes, theta), "interleaved",
                          source="lucidrains rotary_embedding_torch/rotary_embedding_torch.py",
                          parameters={"n_axes": n_axes, "theta": theta})


def timm_eva(head_dim: int = 64, temperature: float = 10000.0,
             ref_feat_shape: Sequence[int] | None = None,
             feat_shape: Sequence[int] | None = None) -> RopeConvention:
    """timm ``RotaryEmbeddingCat`` as used by EVA-02: axial, row bands first, interleaved.

    Bands ``T^(-k/(D/4))`` per axis; positions ``(row, col)``; with ``ref_feat_shape``
    the positions are rescaled by ``ref / feat`` per axis (EVA's pretraining-grid
    trick). Prefix tokens are excluded from RoPE in ``eva.py``; pass only patch tokens.
    Source: ``timm/layers/pos_embed_sincos.py`` and ``timm/models/eva.py`` (timm 1.0.31).

    Examples
    --------
    >>> timm_eva(8, ref_feat_shape=(16, 16), feat_shape=(32, 32)).frequencies
    array([[0.5  , 0.005, 0.   , 0.   ],
           [0.   , 0.   , 0.5  , 0.005]])
    """
    frequencies = axial_frequencies(head_dim, 2, temperature)
    if ref_feat_shape is not None:
        if feat_shape is None:
            raise ValueError("feat_shape is required with ref_feat_shape, got feat_shape=None")
        frequencies = frequencies * (np.asarray(ref_feat_shape, float)
                                     / np.asarray(feat_shape, float))[:, None]
    return RopeConvention("timm-eva", head_dim, frequencies, "interleaved",
                          source="timm timm/layers/pos_embed_sincos.py, timm/models/eva.py",
                          parameters={"temperature": temperature,
                                      "ref_feat_shape": ref_feat_shape, "feat_shape": feat_shape})


def timm_rope_mixed(head_dim: int = 64, *, frequencies: Any = None, rng: Any = 0,
                    temperature: float = 10.0, grid_indexing: str = "xy") -> RopeConvention:
    """timm ``RotaryEmbeddingMixed`` / naver rope-vit RoPE-Mixed; positions ``(row, col)``.

    ``F`` is learned. timm stores it per block and head as ``freqs[:, block, head]``,
    shape ``(2, D/2)``: row 0 multiplies timm's first grid coordinate ``t_x``, row 1 the
    second ``t_y``. Which is the column depends on ``grid_indexing``: ``"xy"`` (timm's
    default, naver) gives ``t_x = col``, ``t_y = row``; ``"ij"`` gives ``t_x = row``,
    ``t_y = col``. Pass ``frequencies`` exactly as stored with the module's
    ``grid_indexing`` and the preset maps them onto the one convention of this module,
    positions ``(row, col)``; without ``frequencies`` it draws the initialisation
    :func:`refimpl.rope.nd.mixed_frequencies` with ``rng`` (rows ``(F_x, F_y)`` for
    ``(x, y) = (col, row)``, i.e. timm's ``"xy"`` order). Interleaved layout. Source:
    timm 1.0.31 ``timm/layers/pos_embed_sincos.py`` (``RotaryEmbeddingMixed``,
    ``get_mixed_grid``, ``get_mixed_freqs``) and naver-ai/rope-vit ``models/vit_rope.py``.

    Examples
    --------
    >>> timm_rope_mixed(8, rng=0).frequencies.shape
    (2, 4)
    >>> F = [[1.0, 0.0], [0.0, 2.0]]
    >>> timm_rope_mixed(4, frequencies=F).angles([3.0, 5.0])  # row 3, col 5, 'xy'
    array([5., 6.])
    >>> timm_rope_mixed(4, frequencies=F, grid_indexing="ij").angles([3.0, 5.0])
    array([ 3., 10.])
    """
    check_choice(grid_indexing, "grid_indexing", ("xy", "ij"))
    if frequencies is None:
        frequencies = mixed_frequencies(head_dim, 1, temperature=temperature, rng=rng)[0]
    first, second = as_float_array(frequencies, "frequencies")
    rows = np.stack([second, first]) if grid_indexing == "xy" else np.stack([first, second])
    return RopeConvention("timm-rope-mixed", head_dim, rows, "interleaved",
                          source="timm 1.0.31 timm/layers/pos_embed_sincos.py "
                                 "(RotaryEmbeddingMixed)",
                          parameters={"temperature": temperature, "grid_indexing": grid_indexing})


def qwen2_vl_mrope(head_dim: int = 128, base: float = 1000000.0,
                   mrope_section: Sequence[int] = (16, 24, 24)) -> RopeConvention:
    """Qwen2-VL / Qwen2.5-VL text M-RoPE: chunked sections over ``(t, h, w)``, half layout.

    Slots ``[0, 16)`` follow t, ``[16, 40)`` h and ``[40, 64)`` w for the default
    sections (:func:`refimpl.rope.nd.mrope_frequencies`); the ids come from
    :func:`refimpl.rope.mrope_positions.qwen2_vl_position_ids`. Source: transformers
    5.23.0 ``models/qwen2_vl/modeling_qwen2_vl.py`` (``Qwen2VLRotaryEmbedding``).

    Examples
    --------
    >>> qwen2_vl_mrope(8, mrope_section=(2, 1, 1)).n_axes
    3
    """
    return RopeConvention("qwen2-vl", head_dim,
                          mrope_frequencies(head_dim, list(mrope_section), base=base), "half",
                          source="transformers 5.23.0 models/qwen2_vl/modeling_qwen2_vl.py",
                          parameters={"base": base, "mrope_section": list(mrope_section)})


def qwen3_vl_mrope(head_dim: int = 128, base: float = 5000000.0,
                   mrope_section: Sequence[int] = (24, 20, 20)) -> RopeConvention:
    """Qwen3-VL interleaved M-RoPE: slots cycle t, h, w (``mrope_section`` caps h and w).

    :func:`refimpl.rope.nd.mrope_frequencies` with ``interleaved=True``, half layout;
    the sections need not sum to ``D/2``. Source: transformers 5.23.0
    ``models/qwen3_vl/modeling_qwen3_vl.py`` (``Qwen3VLTextRotaryEmbedding``).

    Examples
    --------
    >>> qwen3_vl_mrope(8, base=10000.0, mrope_section=(2, 1, 1)).frequencies
    array([[1.   , 0.   , 0.   , 0.001],
           [0.   , 0.1  , 0.   , 0.   ],
           [0.   , 0.   , 0.01 , 0.   ]])
    """
    return RopeConvention("qwen3-vl", head_dim,
                          mrope_frequencies(head_dim, list(mrope_section), base=base,
                                            interleaved=True), "half",
                          source="transformers 5.23.0 models/qwen3_vl/modeling_qwen3_vl.py",
                          parameters={"base": base, "mrope_section": list(mrope_section)})


def llama4_vision(head_dim: int = 88, base: float = 10000.0) -> RopeConvention:
    """Llama-4 vision 2-D RoPE: 1-based ``(x, y)``, column block first, interleaved pairs.

    ``f_k = base^(-2k/(D/2))`` for ``k < D/4``; the complex pairs hold
    ``[(col+1) f, (row+1) f]``; positions here are ``(row, col)`` (0-based, as on an
    ``'ij'`` grid) and the convention adds 1 to both. The CLS token (appended last,
    angle 0) is not a grid position; leave it out. Source: transformers 5.23.0
    ``models/llama4/modeling_llama4.py`` (vision rotary embedding); MaxText and
    torchtune ``VisionRotaryPositionalEmbeddings`` agree.

    Examples
    --------
    >>> llama4_vision(8).position_offset
    (1.0, 1.0)
    """
    quarter = as_int(head_dim, "head_dim", minimum=4) // 4
    omega = inv_freq(head_dim // 2, base)[:quarter]
    axis = np.repeat([1, 0], quarter)
    return RopeConvention("llama4-vision", head_dim,
                          frequencies_from_axis_map(axis, np.tile(omega, 2), 2), "interleaved",
                          position_offset=(1.0, 1.0),
                          source="transformers 5.23.0 models/llama4/modeling_llama4.py",
                          parameters={"base": base})


def qwen_vision(head_dim: int = 80, base: float = 10000.0) -> RopeConvention:
    """Qwen2-VL / Qwen2.5-VL / Qwen3-VL (and GLM-4V) vision tower: axial, half layout.

    ``f_j = 1/base^(2j/(D/2))`` for ``j < D/4``; pairs ``j < D/4`` follow the row and
    the next ``D/4`` the column (``[h f | w f]`` duplicated, rotated by
    ``rotate_half``): :func:`refimpl.rope.nd.axial_frequencies` with the half layout.
    Positions ``(row, col)`` in the tower's token order, merge blocks:
    :func:`refimpl.rope.grids.merge_block_grid`. Source: transformers 5.23.0
    ``models/qwen2_vl/modeling_qwen2_vl.py`` (``Qwen2VLVisionRotaryEmbedding``),
    ``models/glm4v/modeling_glm4v.py`` (``Glm4vVisionRotaryEmbedding``), and
    ``vision_utils.get_vision_position_ids``.

    Examples
    --------
    >>> qwen_vision(8).frequencies
    array([[1.  , 0.01, 0.  , 0.  ],
           [0.  , 0.  , 1.  , 0.01]])
    """
    return RopeConvention("qwen-vision", head_dim, axial_frequencies(head_dim, 2, base), "half",
                          source="transformers 5.23.0 models/qwen2_vl/modeling_qwen2_vl.py "
                                 "(Qwen2VLVisionRotaryEmbedding), vision_utils.py",
                          parameters={"base": base})


def pixtral(head_dim: int = 64, base: float = 10000.0) -> RopeConvention:
    """Pixtral vision encoder: the full 1-D list dealt out, rows even, columns odd, half layout.

    With ``theta_k = 1/base^(2k/D)``, ``k < D/2``: pairs ``j < D/4`` turn by
    ``row * theta_2j`` and pairs ``D/4 + j`` by ``col * theta_(2j+1)``; positions
    ``(row, col)`` of the raster-order patch grid. Source: transformers 5.23.0
    ``models/pixtral/modeling_pixtral.py`` (``PixtralVisionRotaryEmbedding``).

    Examples
    --------
    >>> pixtral(8).frequencies
    array([[1.   , 0.01 , 0.   , 0.   ],
           [0.   , 0.   , 0.1  , 0.001]])
    """
    theta = inv_freq(as_int(head_dim, "head_dim", minimum=4), base)
    axis = np.repeat([0, 1], theta.size // 2)
    omega = np.concatenate([theta[0::2], theta[1::2]])
    return RopeConvention("pixtral", head_dim, frequencies_from_axis_map(axis, omega, 2), "half",
                          source="transformers 5.23.0 models/pixtral/modeling_pixtral.py",
                          parameters={"base": base})


def dinov3(head_dim: int = 64, base: float | None = 100.0, *, min_period: float | None = None,
           max_period: float | None = None) -> RopeConvention:
    """DINOv3: angle ``2 pi c / period`` of patch centres ``c`` in ``[-1, 1]``, axial, half.

    Positions are the centred coordinates ``(c_row, c_col)`` of
    :func:`refimpl.rope.grids.centred_grid` (whose ``normalize`` is DINOv3's
    ``normalize_coords``: separate, min or max), not patch indices. Pair ``j < D/4``
    turns by ``2 pi c_row / T_j`` and pair ``D/4 + j`` by ``2 pi c_col / T_j``, with
    periods ``T_j = base^(2j/(D/2))`` or, given both, ``min_period
    (max_period/min_period)^(j/(D/4 - 1))``. Training-time shift, jitter and rescale
    are not modelled. Source: facebookresearch/dinov3
    ``dinov3/layers/rope_position_encoding.py`` (``RopePositionEmbedding``), transformers
    5.23.0 ``models/dinov3_vit/modeling_dinov3_vit.py`` (separate normalisation only)
    and timm 1.0.31 ``RotaryEmbeddingDinoV3``.

    Examples
    --------
    >>> dinov3(8).angles([-0.5, 0.5]).round(6)  # 2 pi (-0.5, -0.05, 0.5, 0.05)
    array([-3.141593, -0.314159,  3.141593,  0.314159])
    """
    head_dim = as_int(head_dim, "head_dim", minimum=4)
    if head_dim % 4:
        raise ValueError(f"DINOv3 needs head_dim divisible by 4, got head_dim={head_dim}")
    quarter = head_dim // 4
    if min_period is not None and max_period is not None:
        low = as_scalar(min_period, "min_period", positive=True)
        ratio = as_scalar(max_period, "max_period", positive=True) / low
        periods = low * ratio ** np.linspace(0.0, 1.0, quarter)
    elif base is not None:
        periods = as_scalar(base, "base", positive=True) ** (2.0 * np.arange(quarter)
                                                              / (head_dim // 2))
    else:
        raise ValueError("dinov3 needs base, or both min_period and max_period")
    omega = 2.0 * np.pi / periods
    return RopeConvention("dinov3", head_dim,
                          frequencies_from_axis_map(np.repeat([0, 1], quarter),
                                                    np.tile(omega, 2), 2), "half",
                          source="facebookresearch/dinov3 dinov3/layers/"
                                 "rope_position_encoding.py",
                          parameters={"base": base, "min_period": min_period,
                                      "max_period": max_period})


def glm4v_mrope(head_dim: int = 128, base: float = 10000.0, *,
                partial_rotary_factor: float = 0.5,
                mrope_section: Sequence[int] = (8, 12, 12)) -> RopeConvention:
    """GLM-4V text M-RoPE: chunked sections over ``(t, h, w)``, interleaved pairs, partial.

    The leading ``R = int(D * partial_rotary_factor)`` features rotate with the
    frequencies ``1/base^(2k/R)``, the slots dealt to ``(t, h, w)`` in chunks
    (:func:`refimpl.rope.nd.mrope_frequencies`) and the pairs interleaved (GLM's
    ``rotate_half_llm`` with ``repeat_interleave``); the rest pass through. Source:
    transformers 5.23.0 ``models/glm4v/modeling_glm4v.py`` (``Glm4vTextRotaryEmbedding``,
    ``apply_rotary_pos_emb``).

    Examples
    --------
    >>> glm4v_mrope(16, mrope_section=(2, 1, 1)).rotary_dim
    8
    """
    head_dim = as_int(head_dim, "head_dim", minimum=2)
    rotary = int(head_dim * as_scalar(partial_rotary_factor, "partial_rotary_factor",
                                      positive=True))
    return RopeConvention("glm4v", head_dim,
                          mrope_frequencies(rotary, list(mrope_section), base=base),
                          "interleaved",
                          source="transformers 5.23.0 models/glm4v/modeling_glm4v.py",
                          parameters={"base": base, "partial_rotary_factor": partial_rotary_factor,
                                      "mrope_section": list(mrope_section)})


def timm_mrope(head_dim: int = 64, mrope_section: Sequence[int] = (8, 12, 12),
               temperature: float = 10000.0) -> RopeConvention:
    """timm ``RotaryEmbeddingMRope`` on an image: interleaved M-RoPE with ``t = 0``, half layout.

    Slots ``1, 4, 7, ... < 3 s_h`` follow the row, ``2, 5, 8, ... < 3 s_w`` the column,
    the rest the (zero) time axis, so they never turn; the sections need not sum to
    ``D/2`` (head 72 with ``(8, 12, 12)``). Positions ``(row, col)``, timm's only
    ``grid_indexing='ij'``. Source: timm 1.0.31 ``timm/layers/pos_embed_sincos.py``
    (``RotaryEmbeddingMRope``).

    Examples
    --------
    >>> timm_mrope(12, (1, 1, 1)).frequencies.round(4)
    array([[0.    , 0.2154, 0.    , 0.    , 0.    , 0.    ],
           [0.    , 0.    , 0.0464, 0.    , 0.    , 0.    ]])
    """
    F = mrope_frequencies(head_dim, list(mrope_section), base=temperature, interleaved=True)
    return RopeConvention("timm-mrope", head_dim, F[1:], "half",
                          source="timm 1.0.31 timm/layers/pos_embed_sincos.py "
                                 "(RotaryEmbeddingMRope)",
                          parameters={"mrope_section": list(mrope_section),
                                      "temperature": temperature})


#: Preset names for ``--expect NAME:key=value,...`` on the command line.
PRESETS: dict[str, Callable[..., RopeConvention]] = {
    **{f"hf-{rope_type}": functools.partial(hugging_face, rope_type=rope_type)
       for rope_type in ROPE_TYPES if rope_type != "proportional"},
    "meta-llama": meta_llama,
    "gpt-neox": gpt_neox,
    "gpt-j": gpt_j,
    "lucidrains": lucidrains,
    "lucidrains-xpos": lambda head_dim=64, **kw: lucidrains(head_dim, use_xpos=True, **kw),
    "lucidrains-axial": lucidrains_axial,
    "timm-eva": timm_eva,
    "timm-rope-mixed": timm_rope_mixed,
    "qwen2-vl": qwen2_vl_mrope,
    "qwen3-vl": qwen3_vl_mrope,
    "llama4-vision": llama4_vision,
    "qwen-vision": qwen_vision,
    "pixtral": pixtral,
    "glm4v": glm4v_mrope,
}

#: Conventions :func:`refimpl.testing.check_rope` cannot yet identify, so they are built
#: by their functions but not registered above: pairs that never turn inside the rotary
#: block (``proportional``'s zero frequencies, timm M-RoPE's time slots on an image)
#: look like pass-through features, and DINOv3's fastest pair (period 1 in centred
#: coordinates) is invisible at the integer probe positions.
UNREGISTERED = ("hf-proportional (hugging_face(..., 'proportional'))", "timm-mrope (timm_mrope)",
                "dinov3 (dinov3)")

#: Settings at which each preset is exercised by the tests and golden vectors: a
#: published configuration where there is one (gpt-oss YaRN, Llama 3.1, Qwen2-VL, ...).
EXAMPLE_SETTINGS: dict[str, dict[str, Any]] = {
    "hf-default": {"head_dim": 64},
    "hf-linear": {"head_dim": 64, "factor": 4.0},
    "hf-dynamic": {"head_dim": 128, "factor": 2.0, "max_position_embeddings": 4096,
                   "seq_len": 8192},
    "hf-yarn": {"head_dim": 64, "base": 150000.0, "factor": 32.0,
                "original_max_position_embeddings": 4096, "truncate": False},
    "hf-longrope": {"head_dim": 8, "short_factor": [1.0, 1.0, 1.0, 1.0],
                    "long_factor": [1.0, 1.5, 2.0, 4.0], "original_max_position_embeddings": 4096,
                    "seq_len": 8192, "max_position_embeddings": 131072},
    "hf-llama3": {"head_dim": 128, "base": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    "meta-llama": {"head_dim": 64, "base": 500000.0, "use_scaled_rope": True},
    "gpt-neox": {"head_dim": 64, "rotary_pct": 0.25},
    "gpt-j": {"head_dim": 64, "rotary_dim": 32},
    "lucidrains": {"head_dim": 32, "dim": 16, "start_index": 8, "interpolate_factor": 2.0},
    "lucidrains-xpos": {"head_dim": 32, "xpos_scale_base": 512.0, "xpos_center": 512.0},
    "lucidrains-axial": {"head_dim": 32},
    "timm-eva": {"head_dim": 32, "ref_feat_shape": (16, 16), "feat_shape": (24, 24)},
    "timm-rope-mixed": {"head_dim": 32, "rng": 0},
    "qwen2-vl": {"head_dim": 128},
    "qwen3-vl": {"head_dim": 128},
    "llama4-vision": {"head_dim": 88},
    "qwen-vision": {"head_dim": 80},
    "pixtral": {"head_dim": 64},
    "glm4v": {"head_dim": 128},
}


def _parse_value(text: str) -> Any:
    """``"4"`` -> 4, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"16/24/24"`` -> [16, 24, 24]."""
    if "/" in text:
        return [_parse_value(part) for part in text.split("/")]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def preset(spec: str, **overrides: Any) -> RopeConvention:
    """Build a preset from ``"name:key=value,key=value"`` (the CLI's ``--expect`` syntax).

    Values are parsed as int, float, ``true``/``false`` or ``/``-separated lists
    (``mrope_section=16/24/24``); ``overrides`` (e.g. ``head_dim``) are added.

    Examples
    --------
    >>> yarn = preset("hf-yarn:factor=4,original_max_position_embeddings=32768,base=1e6",
    ...               head_dim=128)
    >>> yarn.parameters["factor"], round(yarn.magnitude, 12)
    (4, 1.138629436112)
    """
    name, _, settings = spec.partition(":")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} in expect={spec!r}; known: "
                         f"{', '.join(sorted(PRESETS))}")
    parameters = dict(overrides)
    for item in filter(None, settings.split(",")):
        key, equals, value = item.partition("=")
        if not equals:
            raise ValueError(f"expect settings must read key=value, got {item!r} in {spec!r}")
        parameters[key.strip()] = _parse_value(value.strip())
    return PRESETS[name](**parameters)
