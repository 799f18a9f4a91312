"""The conditional density estimator q(θ | d, S_n): embedding network + glasflow spline flow."""

from .embedding import EmbeddingNetwork, svd_basis
from .posterior_model import PosteriorModel

__all__ = ["EmbeddingNetwork", "PosteriorModel", "svd_basis"]
