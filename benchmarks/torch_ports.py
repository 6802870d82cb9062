"""PyTorch ports of what the benchmarks compare against: the code a torch user would run.

Each port is written the way the torch ecosystem writes it, in float64 on the CPU, with
autograd for the backward pass: RoPE in Hugging Face's ``rotate_half`` form and in the
interleaved (GPT-J / Meta) form, a pre-LN GPT model matching a refimpl
``TransformerConfig`` (weights copied from refimpl's params), and Wood's (1994) vMF
sampler. ``torch.linalg.householder_product`` and ``torch.nn.functional.
scaled_dot_product_attention`` are used directly. tests/interop/test_benchmark_ports.py
checks every port against refimpl, so a ratio is never taken against a wrong port.

Import this module only where torch is installed (the ``interop`` extra).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from _timing import blas_threads

DTYPE = torch.float64


def match_numpy_threads() -> int:
    """Give torch as many intra-op threads as NumPy's BLAS has; return that number."""
    threads = blas_threads()
    torch.set_num_threads(threads)
    return threads


def tensor(array: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A float64 torch copy of a NumPy array."""
    return torch.tensor(np.asarray(array), dtype=DTYPE, requires_grad=requires_grad)


# ---------------------------------------------------------------------------- RoPE


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Hugging Face ``rotate_half``: ``[-x2, x1]`` by concatenation."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_half(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """HF ``apply_rotary_pos_emb`` for one tensor: ``x cos + rotate_half(x) sin``, with
    ``cos = cat(cos(angles), cos(angles))`` (the half layout, pairs ``(k, k + P)``)."""
    doubled = torch.cat((angles, angles), dim=-1)
    return x * doubled.cos() + rotate_half(x) * doubled.sin()


def rotate_every_two(x: torch.Tensor) -> torch.Tensor:
    """GPT-J ``rotate_every_two``: ``(x0, x1) -> (-x1, x0)`` on interleaved pairs."""
    return torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)


def rope_interleaved(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """The interleaved form ``x cos + rotate_every_two(x) sin``, ``cos`` repeated per pair."""
    cos = angles.cos().repeat_interleave(2, dim=-1)
    sin = angles.sin().repeat_interleave(2, dim=-1)
    return x * cos + rotate_every_two(x) * sin


ROPE = {"half": rope_half, "interleaved": rope_interleaved}


# ---------------------------------------------------------------------------- GPT model


def gpt_params(params: dict) -> dict:
    """refimpl's parameter tree as float64 leaf tensors that require grad."""
    if isinstance(params, dict):
        return {name: gpt_params(value) for name, value in params.items()}
    if isinstance(params, list):
        return [gpt_params(value) for value in params]
    return tensor(params, requires_grad=True)


def _norm(p: dict, config, x: torch.Tensor) -> torch.Tensor:
    if config.norm == "layernorm":
        return F.layer_norm(x, x.shape[-1:], p["gain"], p["bias"], config.norm_eps)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + config.norm_eps) * p["gain"]


def _dense(x: torch.Tensor, p: dict, weight: str, bias: str) -> torch.Tensor:
    y = x @ p[weight]
    return y + p[bias] if bias in p else y


def _activation(config, x: torch.Tensor) -> torch.Tensor:
    return {"gelu": F.gelu, "geglu": F.gelu, "relu": F.relu, "swiglu": F.silu,
            "gelu_tanh": lambda z: F.gelu(z, approximate="tanh")}[config.activation](x)


def _rope_angles(config, length: int) -> torch.Tensor:
    """``angles[t, k] = t / base^(2k / rotary_dim)`` (or the config's own table)."""
    dim = config.rope_dim
    if config.rope_inv_freq is not None:
        inv = torch.tensor(config.rope_inv_freq, dtype=DTYPE)
    else:
        inv = 1.0 / config.rope_base ** (torch.arange(0, dim, 2, dtype=DTYPE) / dim)
    return torch.arange(length, dtype=DTYPE)[:, None] * inv[None, :]


def _attention(p: dict, config, x: torch.Tensor, angles: torch.Tensor | None,
               causal: bool) -> torch.Tensor:
    batch, length, _ = x.shape
    heads = config.n_heads
    kv_heads = getattr(config, "n_kv_heads", None) or heads

    def split(y: torch.Tensor, count: int) -> torch.Tensor:
        return y.view(batch, length, count, config.head_dim).transpose(1, 2)

    q = split(_dense(x, p, "wq", "bq"), heads)
    k = split(_dense(x, p, "wk", "bk"), kv_heads)
    v = split(_dense(x, p, "wv", "bv"), kv_heads)
    if angles is not None:
        rotary = config.rope_dim
        rotate = ROPE[config.rope_layout]
        q = torch.cat((rotate(q[..., :rotary], angles), q[..., rotary:]), dim=-1)
        k = torch.cat((rotate(k[..., :rotary], angles), k[..., rotary:]), dim=-1)
    if kv_heads != heads:  # grouped-query attention: each key/value head serves a group
        k = k.repeat_interleave(heads // kv_heads, dim=1)
        v = v.repeat_interleave(heads // kv_heads, dim=1)
    scale = 1.0 / math.sqrt(config.head_dim) if config.attention_scale else 1.0
    context = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)
    merged = context.transpose(1, 2).reshape(batch, length, heads * config.head_dim)
    return _dense(merged, p, "wo", "bo")


def _ffn(p: dict, config, x: torch.Tensor) -> torch.Tensor:
    up = _dense(x, p, "w_up", "b_up")
    if config.activation in ("geglu", "swiglu"):
        hidden = _activation(config, _dense(x, p, "w_gate", "b_gate")) * up
    else:
        hidden = _activation(config, up)
    return _dense(hidden, p, "w_down", "b_down")


def gpt_forward(params: dict, config, tokens: torch.Tensor, causal: bool = True
                ) -> torch.Tensor:
    """Logits of a pre-LN GPT with the tensors of :func:`gpt_params` (refimpl's names):
    token embedding, per layer ``h + attn(norm(h))`` then ``h + ffn(norm(h))`` (RoPE on
    q and k), final norm, output ``h E^T`` (tied) or ``h W_out`` (+ bias)."""
    unsupported = [name for name, bad in [
        ("norm_position='post'", config.norm_position != "pre"),
        (f"positions={config.positions!r}", config.positions == "learned"),
        ("segments", config.n_segments > 0), ("mlm_head", config.mlm_head)] if bad]
    if unsupported:
        raise NotImplementedError(f"the torch GPT port does not support {unsupported}")
    h = params["embedding"]["tokens"][tokens]
    angles = _rope_angles(config, tokens.shape[-1]) if config.positions == "rope" else None
    for layer in params["layers"]:
        h = h + _attention(layer["attn"], config, _norm(layer["attn_norm"], config, h), angles,
                           causal)
        h = h + _ffn(layer["ffn"], config, _norm(layer["ffn_norm"], config, h))
    h = _norm(params["final_norm"], config, h)
    output = params["output"]
    logits = h @ (params["embedding"]["tokens"].T if config.tie_output else output["w"])
    return logits + output["b"] if "b" in output else logits


def clear_grads(params) -> None:
    """Set ``.grad`` of every leaf tensor to None (between timed backward passes)."""
    if isinstance(params, dict):
        for value in params.values():
            clear_grads(value)
    elif isinstance(params, list):
        for value in params:
            clear_grads(value)
    else:
        params.grad = None


# ---------------------------------------------------------------------------- vMF


def wood_vmf_sample(mu: torch.Tensor, kappa: float, n: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` draws of vMF(mu, kappa) on S^(d-1): Wood's (1994) rejection sampler for
    ``w = <mu, x>`` and a uniform tangent direction, as torch code writes it.

    With ``m = d - 1``: ``b = m / (2 kappa + sqrt(4 kappa^2 + m^2))`` (Wood's
    ``(-2 kappa + sqrt(4 kappa^2 + m^2)) / m``, rationalised), ``x0 = (1 - b)/(1 + b)``,
    ``c = kappa x0 + m log(1 - x0^2)``; propose ``w = (1 - (1 + b) z)/(1 - (1 - b) z)``
    with ``z ~ Beta(m/2, m/2)``, accept when ``kappa w + m log(1 - x0 w) - c >= log u``,
    ``u ~ U(0, 1]``, redraw the rejected. The direction: Gaussians projected off ``mu``
    and normalised; ``x = w mu + sqrt(1 - w^2) v``.

    Reference: A. T. A. Wood, "Simulation of the von Mises Fisher distribution", Commun.
    Stat. Simul. Comput. 23(1):157-164 (1994).
    """
    d = mu.shape[-1]
    w = torch.empty(n, dtype=DTYPE)
    pending = torch.arange(n)
    half = torch.tensor((d - 1.0) / 2.0, dtype=DTYPE)
    beta = torch.distributions.Beta(half, half)
    while pending.numel():
        z = beta.sample((pending.numel(),))
        u = 1.0 - torch.rand(pending.numel(), dtype=DTYPE, generator=generator)
        proposal, accept = wood_accepts(z, u, d, kappa)
        w[pending[accept]] = proposal[accept]
        pending = pending[~accept]
    v = torch.randn(n, d, dtype=DTYPE, generator=generator)
    v = v - (v @ mu)[:, None] * mu
    v = v / v.norm(dim=-1, keepdim=True)
    return w[:, None] * mu + torch.sqrt(1.0 - w * w)[:, None] * v


def wood_accepts(z: torch.Tensor, u: torch.Tensor, d: int, kappa: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One round of Wood's test on given ``z ~ Beta(m/2, m/2)`` and ``u ~ U(0, 1]``:
    ``(proposal, accepted)`` (used by :func:`wood_vmf_sample`, and by the agreement test
    with refimpl's Wood sampler on the same draws)."""
    m = d - 1.0
    kappa_t = torch.tensor(float(kappa), dtype=DTYPE)
    b = m / (2.0 * kappa_t + torch.sqrt(4.0 * kappa_t**2 + m**2))
    x0 = (1.0 - b) / (1.0 + b)
    c = kappa_t * x0 + m * torch.log(1.0 - x0**2)
    proposal = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
    return proposal, kappa_t * proposal + m * torch.log(1.0 - x0 * proposal) - c >= torch.log(u)
