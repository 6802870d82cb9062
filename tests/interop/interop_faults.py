"""Real rotary code (Hugging Face transformers, rotary-embedding-torch) in the kit's pair
form, and wrappers that plant each catalogued fault in it.

Each builder returns ``fn(q, k, positions) -> (q_rot, k_rot)`` on torch tensors of shape
``(rows, head_dim)``, the kit's pair form (``check_rope_pair(..., framework="torch")``).
The faults are planted *around* the real code (on its inputs, its tables or its outputs),
never by rewriting it, so what is checked is the library's own arithmetic.
"""

import functools

import torch
from transformers import GPTJConfig, GPTNeoXConfig, LlamaConfig, Qwen2VLConfig
from transformers.models.gpt_neox.modeling_gpt_neox import GPTNeoXRotaryEmbedding
from transformers.models.gpt_neox.modeling_gpt_neox import (
    apply_rotary_pos_emb as neox_apply,
)
from transformers.models.gptj.modeling_gptj import GPTJAttention
from transformers.models.gptj.modeling_gptj import apply_rotary_pos_emb as gptj_apply
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLRotaryEmbedding
from transformers.models.qwen2_vl.modeling_qwen2_vl import (
    apply_rotary_pos_emb as qwen2_vl_apply,
)

from refimpl.testing.adapters import cos_sin_pair

HEAD = 64


def llama_config(context=2048, **rope):
    """A small Llama config (the rotary module only reads head_dim, context and rope)."""
    parameters = {"rope_type": "default", "rope_theta": 10000.0, **rope}
    return LlamaConfig(hidden_size=4 * HEAD, num_attention_heads=4, head_dim=HEAD,
                       max_position_embeddings=context, rope_parameters=parameters)


def llama(config=None, *, tables=None, positions=None, outputs=None):
    """HF Llama: ``LlamaRotaryEmbedding`` + ``apply_rotary_pos_emb``, with optional hooks
    on the cos/sin tables, the position ids and the outputs (where faults are planted)."""
    rotary = LlamaRotaryEmbedding(config or llama_config())

    def cos_sin(x, position_ids):
        ids = positions(position_ids) if positions else position_ids
        cos, sin = rotary(x, ids)
        return tables(cos, sin, ids) if tables else (cos, sin)

    def apply(q, k, cos, sin):
        out = apply_rotary_pos_emb(q, k, cos, sin)
        return tuple(outputs(o) for o in out) if outputs else out

    pair = cos_sin_pair(apply, cos_sin)
    pair.rotary = rotary
    return pair


def gpt_neox(rotary_pct=0.25):
    """HF GPT-NeoX: partial rotary inside its own ``apply_rotary_pos_emb``."""
    config = GPTNeoXConfig(hidden_size=4 * HEAD, num_attention_heads=4,
                           rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                            "partial_rotary_factor": rotary_pct})
    return cos_sin_pair(neox_apply, GPTNeoXRotaryEmbedding(config))


def gpt_j(head_dim=HEAD, rotary_dim=32, max_positions=2048):
    """HF GPT-J's attention glue around its real sin/cos table (``embed_positions``, one
    row per position up to ``max_position_embeddings``): gather, split, rotate the leading
    ``rotary_dim`` features with ``rotate_every_two``, concatenate the rest."""
    config = GPTJConfig(n_embd=4 * head_dim, n_head=4, rotary_dim=rotary_dim,
                        n_positions=max_positions)
    attention = GPTJAttention(config, layer_idx=0)

    def rotate(x, position_ids):  # x (B, T, H, D), position_ids (B, T)
        table = attention._get_embed_positions(position_ids)
        index = position_ids.unsqueeze(-1).repeat(1, 1, table.shape[-1])
        sincos = torch.gather(table, 1, index).to(x.dtype)
        sin, cos = torch.split(sincos, sincos.shape[-1] // 2, dim=-1)
        x_rot = gptj_apply(x[..., :rotary_dim], sin, cos)
        return torch.cat([x_rot, x[..., rotary_dim:]], dim=-1)

    def pair(q, k, positions):
        ids = positions[None]
        return (rotate(q[None, :, None], ids)[0, :, 0], rotate(k[None, :, None], ids)[0, :, 0])

    pair.table_rows = attention.embed_positions.shape[0]
    return pair


def qwen2_vl(mrope_section=None):
    """HF Qwen2-VL M-RoPE: its rotary module builds (3, B, T) sections of cos/sin."""
    text = Qwen2VLConfig().get_text_config()
    if mrope_section is not None:
        text.rope_parameters = {**text.rope_parameters, "mrope_section": mrope_section}
    rotary = Qwen2VLRotaryEmbedding(text)
    return cos_sin_pair(qwen2_vl_apply, rotary, position_ids=lambda p: p.T[:, None]), text


def lucidrains(dim=HEAD, use_xpos=False, xpos_scale_base=512, centre=None, **options):
    """rotary-embedding-torch 0.9.1 on arbitrary positions: ``forward(positions)`` gives
    the frequencies, ``apply_rotary_emb`` rotates. With xPos, ``get_scale`` centres its
    power at ``len(t) // 2``; ``centre`` shifts the positions it sees so the centre is a
    fixed position instead (as ``rotate_queries_with_cached_keys`` does for a cache)."""
    from rotary_embedding_torch import RotaryEmbedding, apply_rotary_emb

    rotary = RotaryEmbedding(dim=dim, use_xpos=use_xpos, xpos_scale_base=xpos_scale_base,
                             **options)

    def pair(q, k, positions):
        t = positions.to(torch.float32)
        freqs = rotary(t)
        if not use_xpos:
            return apply_rotary_emb(freqs, q), apply_rotary_emb(freqs, k)
        seen = t if centre is None else t - centre + len(t) // 2
        scale = rotary.get_scale(seen)
        return apply_rotary_emb(freqs, q, scale=scale), apply_rotary_emb(freqs, k, scale=scale**-1)

    return pair


# --- planted faults, each on the real HF Llama path -----------------------------------

def _to_interleaved(x):
    """Reorder features (k, k+P) -> (2k, 2k+1): half-layout code then rotates interleaved
    pairs once the output is reordered back."""
    half = x.shape[-1] // 2
    order = torch.stack([torch.arange(half), torch.arange(half) + half], dim=-1).reshape(-1)
    return order


def interleaved_llama():
    order = None

    def pair(q, k, positions):
        nonlocal order
        order = _to_interleaved(q) if order is None else order
        inverse = torch.argsort(order)
        q_rot, k_rot = llama()(q[..., inverse], k[..., inverse], positions)
        return q_rot[..., order], k_rot[..., order]

    return pair


def wrong_block_neox():
    """GPT-NeoX partial rotary applied to the trailing quarter instead of the leading one."""
    neox = gpt_neox()

    def pair(q, k, positions):
        shift = 3 * q.shape[-1] // 4
        q_rot, k_rot = neox(q.roll(-shift, -1), k.roll(-shift, -1), positions)
        return q_rot.roll(shift, -1), k_rot.roll(shift, -1)

    return pair


def deepseek_permuted_output():
    """Interleaved rotation, output reordered evens-then-odds (features mix beyond pairs)."""
    inner = interleaved_llama()

    def pair(q, k, positions):
        q_rot, k_rot = inner(q, k, positions)
        reorder = lambda t: torch.cat([t[..., 0::2], t[..., 1::2]], dim=-1)
        return reorder(q_rot), reorder(k_rot)

    return pair


def xpos_like_magnitude():
    return llama(tables=lambda cos, sin, ids: (cos * (1 + ids[..., None] / 4096),
                                               sin * (1 + ids[..., None] / 4096)))


def rounded_inv_freq(dtype):
    fn = llama()
    fn.rotary.inv_freq = fn.rotary.inv_freq.to(dtype).to(torch.float32)
    fn.rotary.original_inv_freq = fn.rotary.inv_freq.clone()
    return fn


def half_precision_angles(dtype):
    """Angles computed from positions and inv_freq held in ``dtype``."""
    inv = llama().rotary.inv_freq

    def tables(cos, sin, ids):
        phi = (ids.to(dtype)[..., None] * inv.to(dtype)).to(torch.float32)
        emb = torch.cat([phi, phi], dim=-1)
        return emb.cos(), emb.sin()

    return llama(tables=tables)


#: Every catalogued fault: (name, builder of the faulty pair, expected preset settings,
#: extra check options, a phrase the report must contain).
PLANTED = {
    "wrong layout": (interleaved_llama, {}, {}, "wrong layout: expected half"),
    "rotary dim": (gpt_neox, {}, {}, "rotary dim: expected 64, found 16"),
    "partial rotary on the wrong block": (wrong_block_neox, {"partial_rotary_factor": 0.25}, {},
                                          "partial rotary on the wrong block"),
    "rotation direction reversed": (lambda: llama(tables=lambda c, s, i: (c, -s)), {}, {},
                                    "direction reversed"),
    "positions off by one": (lambda: llama(positions=lambda ids: ids + 1), {}, {},
                             "positions off by 1"),
    "magnitude": (lambda: llama(tables=lambda c, s, i: (1.25 * c, 1.25 * s)), {}, {},
                  "magnitude (attention factor on cos and sin): expected 1, found 1.25"),
    "xPos-like magnitude": (xpos_like_magnitude, {}, {}, "xPos-like"),
    "wrong base": (lambda: llama(llama_config(rope_theta=500000.0)), {}, {},
                   "wrong base: expected 10000, found 500000"),
    "position scale": (lambda: llama(positions=lambda ids: ids / 4), {}, {},
                       "position scale (linear interpolation factor): expected 1, found 4"),
    "YaRN truncate flipped": (
        lambda: llama(llama_config(rope_type="yarn", factor=4.0,
                                   original_max_position_embeddings=512, truncate=True)),
        {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 512,
         "truncate": False}, {}, "truncate flag flipped"),
    "inv_freq rounded to bfloat16": (functools.partial(rounded_inv_freq, torch.bfloat16), {},
                                     {"dtype": "float32"},
                                     "rounded frequencies (inv_freq stored in bfloat16?)"),
    "angles in float16": (functools.partial(half_precision_angles, torch.float16), {},
                          {"dtype": "float32", "max_position": 2048},
                          "consistent with angles computed in float16"),
    "non-finite output (float16 positions)": (
        functools.partial(half_precision_angles, torch.float16), {},
        {"dtype": "float32", "max_position": 2**17}, "non-finite output from position"),
    "not pairwise": (deepseek_permuted_output, {}, {}, "not a pairwise rotation"),
}
