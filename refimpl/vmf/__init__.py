"""The von Mises-Fisher distribution on the sphere S^(d-1), exactly and stably.

``vMF(mu, kappa)`` has density ``C_d(kappa) exp(kappa <mu, x>)`` on unit vectors in R^d.
This package holds a stable log-Bessel function (:mod:`~refimpl.vmf.bessel`), the
normalizer, moments, density, entropy and KL divergences with their kappa gradients
(:mod:`~refimpl.vmf.distribution`), the law of ``w = <mu, x>``
(:mod:`~refimpl.vmf.marginal`), samplers and the reparameterized transform
(:mod:`~refimpl.vmf.sampling`), Wood's rejection sampler for ``w``, in his variables and in
the complement form the samplers use (:mod:`~refimpl.vmf.wood`), and the maximum-likelihood
fit (:mod:`~refimpl.vmf.fit`), and the frozen distribution over them
(:class:`~refimpl.vmf.frozen.VonMisesFisher`). Background: the vMF-VAE post
(kexue.fm/archives/8404); Wood, "Simulation of the von Mises Fisher distribution",
Commun. Stat. Simul. Comput. 23(1):157-164 (1994).

Examples
--------
>>> from refimpl import vmf
>>> round(float(vmf.kl_to_uniform(8, 20.0)), 6)  # the vMF-VAE's constant KL, in nats
4.485986
"""

from refimpl.vmf.bessel import (
    bessel_iv_ratio,
    bessel_iv_ratio_complement,
    bessel_iv_ratio_derivative,
    bessel_iv_ratio_vjp,
    log_bessel_iv,
    log_bessel_iv_vjp,
    log_bessel_ive,
)
from refimpl.vmf.distribution import (
    entropy,
    entropy_vjp,
    kl,
    kl_to_uniform,
    kl_to_uniform_vjp,
    kl_vjp,
    log_normalizer,
    log_normalizer_vjp,
    log_sphere_area,
    logpdf,
    logpdf_vjp,
    mean_resultant_length,
    mean_resultant_length_derivative,
    mean_resultant_length_vjp,
    pdf,
    pdf_vjp,
)
from refimpl.vmf.fit import fit, fit_kappa
from refimpl.vmf.frozen import VonMisesFisher
from refimpl.vmf.marginal import (
    marginal_cdf,
    marginal_cdf_kappa_derivative,
    marginal_logpdf,
    marginal_pdf,
    marginal_quantile,
    quantile_angle,
)
from refimpl.vmf.sampling import (
    InverseCdfTable,
    draw_noise,
    inverse_cdf_table,
    sample,
    sample_marginal,
    transform,
    transform_vjp,
)
from refimpl.vmf.wood import WOOD_DEFINITION_MAX_RATIO, wood_definition

__all__ = [
    "log_bessel_ive", "log_bessel_iv", "log_bessel_iv_vjp", "bessel_iv_ratio",
    "bessel_iv_ratio_complement", "bessel_iv_ratio_derivative", "bessel_iv_ratio_vjp",
    "log_sphere_area", "log_normalizer", "log_normalizer_vjp", "mean_resultant_length",
    "mean_resultant_length_derivative", "mean_resultant_length_vjp", "logpdf", "logpdf_vjp",
    "pdf", "pdf_vjp", "entropy", "entropy_vjp", "kl_to_uniform", "kl_to_uniform_vjp", "kl",
    "kl_vjp", "marginal_logpdf", "marginal_pdf", "marginal_cdf", "marginal_quantile",
    "marginal_cdf_kappa_derivative", "InverseCdfTable", "inverse_cdf_table", "sample",
    "sample_marginal", "wood_definition", "WOOD_DEFINITION_MAX_RATIO", "draw_noise",
    "transform", "transform_vjp", "fit", "fit_kappa", "quantile_angle", "VonMisesFisher",
]
