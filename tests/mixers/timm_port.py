"""A small NumPy port of timm's MLP-Mixer, ResMLP and gMLP blocks, in PyTorch's convention.

timm is not installed here, so the state-dict tests run against this port instead. It
is written independently of refimpl (its own Linear, LayerNorm and exact GELU) in the
convention of ``torch.nn.Linear``: ``y = x @ weight.T + bias`` with ``weight`` stored
``(out, in)``. Parameter names and shapes are those of a timm state dict, following
huggingface/pytorch-image-models ``timm/models/mlp_mixer.py`` (``MixerBlock``,
``ResBlock`` with ``Affine``, ``SpatialGatingUnit``, ``SpatialGatingBlock``) and
``timm/layers/mlp.py`` (``Mlp``: ``fc1``, GELU, ``fc2``; ``GatedMlp``: ``fc1``, GELU,
``gate``, ``fc2``). Dropout and drop-path are identities at inference and left out.
"""

import numpy as np
from scipy.special import erf


def linear(x, state, name):
    """``torch.nn.Linear``: ``x @ weight.T + bias``."""
    return x @ state[f"{name}.weight"].T + state[f"{name}.bias"]


def layer_norm(x, state, name, eps):
    """``torch.nn.LayerNorm`` over the last axis (biased variance)."""
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * state[f"{name}.weight"] + state[f"{name}.bias"]


def gelu(x):
    """``torch.nn.GELU()`` (exact): ``x Phi(x)``."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def mlp(x, state, name):
    """timm ``Mlp``: ``fc2(gelu(fc1(x)))``."""
    return linear(gelu(linear(x, state, f"{name}.fc1")), state, f"{name}.fc2")


def transpose(x):
    """``x.transpose(1, 2)`` of a ``(batch, tokens, channels)`` tensor."""
    return np.swapaxes(x, 1, 2)


def mixer_block(x, state, eps=1e-6):
    """timm ``MixerBlock`` (``norm_layer=partial(nn.LayerNorm, eps=1e-6)``)."""
    x = x + transpose(mlp(transpose(layer_norm(x, state, "norm1", eps)), state, "mlp_tokens"))
    return x + mlp(layer_norm(x, state, "norm2", eps), state, "mlp_channels")


def res_block(x, state):
    """timm ``ResBlock``: ``Affine`` (``addcmul(beta, alpha, x)``) and LayerScale ``ls1, ls2``."""
    affine = lambda z, name: state[f"{name}.beta"] + state[f"{name}.alpha"] * z
    x = x + state["ls1"] * transpose(linear(transpose(affine(x, "norm1")), state, "linear_tokens"))
    return x + state["ls2"] * mlp(affine(x, "norm2"), state, "mlp_channels")


def spatial_gating_block(x, state, eps=1e-6, gate_eps=1e-5):
    """timm ``SpatialGatingBlock``: ``norm``, then ``GatedMlp`` with a ``SpatialGatingUnit``.

    timm's block norm uses ``eps=1e-6`` and the gate's ``nn.LayerNorm`` its default
    ``1e-5``.
    """
    hidden = gelu(linear(layer_norm(x, state, "norm", eps), state, "mlp_channels.fc1"))
    u, v = np.split(hidden, 2, axis=-1)  # torch.chunk(2, dim=-1)
    v = layer_norm(v, state, "mlp_channels.gate.norm", gate_eps)
    v = transpose(linear(transpose(v), state, "mlp_channels.gate.proj"))
    return x + linear(u * v, state, "mlp_channels.fc2")


# ----------------------------------------------------------------------------- state dicts

def mixer_block_shapes(n, d, tokens_dim, channels_dim):
    """Names and shapes of a ``MixerBlock(dim=d, seq_len=n)`` state dict."""
    return {"norm1.weight": (d,), "norm1.bias": (d,),
            "mlp_tokens.fc1.weight": (tokens_dim, n), "mlp_tokens.fc1.bias": (tokens_dim,),
            "mlp_tokens.fc2.weight": (n, tokens_dim), "mlp_tokens.fc2.bias": (n,),
            "norm2.weight": (d,), "norm2.bias": (d,),
            "mlp_channels.fc1.weight": (channels_dim, d), "mlp_channels.fc1.bias": (channels_dim,),
            "mlp_channels.fc2.weight": (d, channels_dim), "mlp_channels.fc2.bias": (d,)}


def res_block_shapes(n, d, channels_dim):
    """Names and shapes of a ``ResBlock(dim=d, seq_len=n)`` state dict."""
    return {"norm1.alpha": (1, 1, d), "norm1.beta": (1, 1, d),
            "linear_tokens.weight": (n, n), "linear_tokens.bias": (n,),
            "norm2.alpha": (1, 1, d), "norm2.beta": (1, 1, d),
            "mlp_channels.fc1.weight": (channels_dim, d), "mlp_channels.fc1.bias": (channels_dim,),
            "mlp_channels.fc2.weight": (d, channels_dim), "mlp_channels.fc2.bias": (d,),
            "ls1": (d,), "ls2": (d,)}


def spatial_gating_block_shapes(n, d, channels_dim):
    """Names and shapes of a ``SpatialGatingBlock(dim=d, seq_len=n)`` state dict."""
    gate_dim = channels_dim // 2
    return {"norm.weight": (d,), "norm.bias": (d,),
            "mlp_channels.fc1.weight": (channels_dim, d), "mlp_channels.fc1.bias": (channels_dim,),
            "mlp_channels.gate.norm.weight": (gate_dim,),
            "mlp_channels.gate.norm.bias": (gate_dim,),
            "mlp_channels.gate.proj.weight": (n, n), "mlp_channels.gate.proj.bias": (n,),
            "mlp_channels.fc2.weight": (d, gate_dim), "mlp_channels.fc2.bias": (d,)}


def random_state(rng, shapes):
    """A state dict of standard normal entries; norm weights and alphas near 1."""
    return {name: (1.0 if name.endswith((".alpha", "norm.weight", "norm1.weight",
                                         "norm2.weight")) else 0.0)
            + rng.standard_normal(shape) for name, shape in shapes.items()}
