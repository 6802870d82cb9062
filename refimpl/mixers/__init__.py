"""Token mixers of the 2021 "non-Transformer" round-up, each written as ``O = A V``.

Su Jianlin's round-up (kexue.fm/archives/8431) reads every one of these layers through
the attention template ``O = A V`` with ``A = softmax(Q K^T)``: the works differ only
in where the ``n x n`` (or ``n x S``) token-mixing matrix ``A`` comes from.
``docs/mixers.md`` rebuilds each ``A`` by hand, side by side.

=====================  ===============================================  ==========================
mixer                  ``A``                                            ``V``
=====================  ===============================================  ==========================
attention              ``softmax(Q K^T / sqrt d)``, from the input      ``X W_v^T``
Synthesizer, random    ``softmax(R)``, ``R`` a free ``n x n`` matrix    ``X W_v^T + b_v``
Synthesizer, dense     ``softmax(relu(X W_1^T + b_1) W_2^T + b_2)``     ``X W_v^T + b_v``
MLP-Mixer (token MLP)  ``W_1`` then ``W_2`` with a GELU between         ``LN(X)``
ResMLP                 ``W`` (``n x n``, no activation)                 ``Aff(X)``
Stack of FFN           token MLP, LayerNorm over the token axis         ``LN_tokens(X)``
FNet                   ``Re(DFT_n (.) DFT_d)``, no parameters           ``X``
External Attention     ``l1_slots(softmax_tokens(X M_k^T))``, n x S     ``M_v^T`` (parameter)
gMLP (spatial gating)  ``W`` (``n x n``, ~0 at init) plus bias 1        ``LN(Z_2)``, gates ``Z_1``
=====================  ===============================================  ==========================

One module per mixer: :mod:`~refimpl.mixers.synthesizer`, :mod:`~refimpl.mixers.fnet`,
:mod:`~refimpl.mixers.external_attention`, :mod:`~refimpl.mixers.mlp_mixer` (token-mixing
MLP and block), :mod:`~refimpl.mixers.resmlp`, :mod:`~refimpl.mixers.stack_of_ffn`,
:mod:`~refimpl.mixers.gmlp` (spatial gating unit and block) and
:mod:`~refimpl.mixers.tiny_attention` (aMLP's addition to the gate).

One weight layout. Every weight is stored ``(out, in)``, as ``torch.nn.Linear`` stores
its ``weight``: a map over the channels is ``y = x W^T + b``, and a map over the tokens
is the same ``nn.Linear`` applied to the transposed sequence, ``Y = W X + b 1^T``
(``W`` shaped ``(n_out, n_in)``, bias ``(n_out,)``). A PyTorch or timm state dict
therefore plugs in without a transpose; Flax/JAX kernels, stored ``(in, out)``, are
transposed once when loaded.

Conventions. Inputs are ``(..., n, d)``: batch axes lead, then tokens, then channels.
Every mixer with an ``n``-sized parameter raises ``ValueError`` for another sequence
length; FNet and External Attention accept any length. Full residual blocks take a
small frozen dataclass of parameters and their VJPs return ``(grad_x, grad_params)``
with the gradients in a dataclass of the same type.

The exact layers were checked against the authors' public code: Synthesizer
(google-research/long-range-arena ``synthesizer_attention.py``), MLP-Mixer
(google-research/vision_transformer ``models_mixer.py``; Flax's GELU is the tanh form),
ResMLP (facebookresearch/deit ``resmlp_models.py``), Stack of FFN
(lukemelas/do-you-even-need-attention), FNet (google-research/google-research
``f_net/layers.py``), External Attention (MenghaoGuo/EANet). gMLP has no official code;
the layer follows the paper's pseudo-code (arXiv 2105.08050, Fig. 1 and 5) as
reproduced by the timm, OpenMMLab and lucidrains ports.

Examples
--------
>>> import numpy as np
>>> from refimpl import mixers
>>> x = np.arange(6.0).reshape(3, 2)
>>> mixers.synthesizer_random(x, np.zeros((3, 3)), np.eye(2), np.zeros(2))  # A = 1/3
array([[2., 3.],
       [2., 3.],
       [2., 3.]])
"""

from refimpl.mixers._common import ACTIVATIONS
from refimpl.mixers.external_attention import (
    external_attention,
    external_attention_definition,
    external_attention_vjp,
)
from refimpl.mixers.fnet import fnet_mixing, fnet_mixing_definition, fnet_mixing_vjp
from refimpl.mixers.gmlp import (
    GMLPParams,
    gmlp_block,
    gmlp_block_vjp,
    spatial_gating_init,
    spatial_gating_unit,
    spatial_gating_unit_vjp,
)
from refimpl.mixers.mlp_mixer import (
    MixerParams,
    mlp_mixer_block,
    mlp_mixer_block_vjp,
    token_mixing_mlp,
    token_mixing_mlp_vjp,
)
from refimpl.mixers.resmlp import ResMLPParams, resmlp_block, resmlp_block_vjp
from refimpl.mixers.stack_of_ffn import StackFFNParams, stack_of_ffn_block, stack_of_ffn_block_vjp
from refimpl.mixers.synthesizer import (
    synthesizer_dense,
    synthesizer_dense_vjp,
    synthesizer_random,
    synthesizer_random_vjp,
)
from refimpl.mixers.tiny_attention import TinyAttentionParams, tiny_attention, tiny_attention_vjp

__all__ = [
    "ACTIVATIONS",
    "synthesizer_random", "synthesizer_random_vjp", "synthesizer_dense", "synthesizer_dense_vjp",
    "fnet_mixing", "fnet_mixing_definition", "fnet_mixing_vjp",
    "external_attention", "external_attention_definition", "external_attention_vjp",
    "token_mixing_mlp", "token_mixing_mlp_vjp", "MixerParams", "mlp_mixer_block",
    "mlp_mixer_block_vjp",
    "ResMLPParams", "resmlp_block", "resmlp_block_vjp",
    "StackFFNParams", "stack_of_ffn_block", "stack_of_ffn_block_vjp",
    "spatial_gating_unit", "spatial_gating_unit_vjp", "spatial_gating_init", "GMLPParams",
    "gmlp_block", "gmlp_block_vjp",
    "TinyAttentionParams", "tiny_attention", "tiny_attention_vjp",
]
