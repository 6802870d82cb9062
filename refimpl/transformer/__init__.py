"""A minimal reference Transformer: forward pass and hand-written backward pass.

One model covers the common layouts: BERT (post-LN, learned absolute positions,
segment embeddings, GELU, MLM head), RoFormer (BERT with RoPE on q and k and no
absolute positions), GPT-2 (pre-LN, final LayerNorm, tied output), GPT-NeoX (partial
rotary, parallel residual) and Llama/Mistral/T5-style variants (RMSNorm, SwiGLU/GEGLU,
grouped-query attention, sliding windows, no biases, unscaled attention). A
:class:`TransformerConfig` picks the variant; the parameters are a plain nested dict of
float64 arrays; every function is pure (no hidden state) and every backward step is
written out by hand.

The package reads in the order of the computation:

* :mod:`~refimpl.transformer.config`: :class:`TransformerConfig` and the option names
  (:data:`NORMS`, :data:`NORM_POSITIONS`, :data:`ACTIVATIONS`, :data:`POSITIONS`);
* :mod:`~refimpl.transformer.params`: the parameter tree and its naming table
  (:func:`param_shapes`, :func:`init_params`, :func:`check_params`);
* :mod:`~refimpl.transformer.layers`: the sublayers (dense, norm, activation, attention,
  feed-forward), each forward next to its backward;
* :mod:`~refimpl.transformer.masking`: how ``mask``, ``bias`` and the config's
  causality and sliding window become what every layer's attention sees;
* :mod:`~refimpl.transformer.model`: the model level, with the equations:
  :func:`embed_forward`, :func:`block_forward`, :func:`head_forward`, :func:`forward`,
  their backward passes and :func:`rope_angles`;
* :mod:`~refimpl.transformer.loss`: :func:`token_cross_entropy`, its VJP and
  :func:`loss_and_grad`;
* :mod:`~refimpl.transformer.decoding`: KV-cache decoding, :func:`init_cache`,
  :func:`decode_step` and greedy :func:`generate`.

Examples
--------
>>> from refimpl.masks import causal_mask
>>> from refimpl.transformer import TransformerConfig, init_params, loss_and_grad
>>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4, d_ff=16,
...                            n_layers=2)
>>> params = init_params(config, rng=0)
>>> loss, grads = loss_and_grad(params, config, [1, 2, 3], [2, 3, 4], mask=causal_mask(3))
>>> grads["layers"][1]["ffn"]["w_up"].shape
(8, 16)

References
----------
Vaswani et al., "Attention Is All You Need", 2017, arXiv:1706.03762; Devlin et al.,
"BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
2019, arXiv:1810.04805; Radford et al., "Language Models are Unsupervised Multitask
Learners" (GPT-2), OpenAI, 2019; Su et al., "RoFormer: Enhanced Transformer with Rotary
Position Embedding", 2021, arXiv:2104.09864; Shazeer, "GLU Variants Improve
Transformer", 2020, arXiv:2002.05202; Su, the model that lossless widening grows,
https://kexue.fm/archives/8444 (2021), and ``docs/widening.md``.
"""

from refimpl.transformer.config import (
    ACTIVATIONS,
    NORM_POSITIONS,
    NORMS,
    POSITIONS,
    TransformerConfig,
)
from refimpl.transformer.decoding import KVCache, decode_step, generate, init_cache
from refimpl.transformer.loss import loss_and_grad, token_cross_entropy, token_cross_entropy_vjp
from refimpl.transformer.model import (
    backward,
    block_backward,
    block_forward,
    embed_backward,
    embed_forward,
    forward,
    head_backward,
    head_forward,
    rope_angles,
)
from refimpl.transformer.params import check_params, init_params, param_shapes

__all__ = ["TransformerConfig", "NORMS", "NORM_POSITIONS", "ACTIVATIONS", "POSITIONS",
           "param_shapes", "init_params", "check_params", "rope_angles", "embed_forward",
           "embed_backward", "block_forward", "block_backward", "head_forward",
           "head_backward", "forward", "backward", "token_cross_entropy",
           "token_cross_entropy_vjp", "loss_and_grad", "KVCache", "init_cache",
           "decode_step", "generate"]
