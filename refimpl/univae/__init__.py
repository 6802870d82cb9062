"""UniVAE: a whole sequence VAE inside one Transformer, with multi-scale vMF latents.

The UniVAE post (https://kexue.fm/archives/8475; reference code ``univae.py`` of
https://github.com/bojone/univae at commit 428c458) feeds a sentence twice, as a source
segment and a target segment, through one shared Transformer. Attention masks keep the
two apart (:mod:`~refimpl.univae.inputs`), except that from the switch layer on every
target query may read position 0, the source ``[CLS]``. In each of the top ``n_latent``
layers that position is replaced by a decoded vMF sample of its own encoding
(:mod:`~refimpl.univae.model`), so the target depends on the source only through the
code ``z = [z_1, ..., z_n_latent]``, one unit direction per latent layer
(:mod:`~refimpl.univae.latent`). Training minimises the target's next-token
cross-entropy (:mod:`~refimpl.univae.loss`), the KL being a constant at fixed
``kappa``; generation decodes a code greedily (:mod:`~refimpl.univae.decoding`).
:mod:`~refimpl.univae.config` holds the configuration and the parameters.
"""

from refimpl.univae.config import UniVAEConfig, check_params, init_params
from refimpl.univae.decoding import greedy_decode
from refimpl.univae.inputs import layer_masks, pack
from refimpl.univae.latent import kl, sample_prior, split_latent
from refimpl.univae.loss import WEIGHTINGS, loss_and_grad, seq2seq_loss, seq2seq_weights
from refimpl.univae.model import MODES, TANGENT, UniVAEOutput, backward, forward

__all__ = ["UniVAEConfig", "UniVAEOutput", "init_params", "check_params", "pack",
           "layer_masks", "split_latent", "forward", "backward", "kl", "seq2seq_weights",
           "seq2seq_loss", "loss_and_grad", "sample_prior", "greedy_decode",
           "MODES", "TANGENT", "WEIGHTINGS"]
