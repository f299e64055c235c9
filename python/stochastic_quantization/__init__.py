"""Stochastic Quantization: a stochastic-gradient alternative to K-Means with a C++/Eigen core."""

from ._kernels import kernel_name
from .estimator import StochasticQuantization
from .semi_supervised import SQClassifier

__all__ = ["SQClassifier", "StochasticQuantization", "kernel_name"]
__version__ = "0.1.0"
