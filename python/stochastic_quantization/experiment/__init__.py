"""Semi-supervised image classification experiment: a triplet-loss CNN encoder.

The encoder maps images to a low-dimensional latent space where stochastic quantization
then clusters them. This subpackage needs PyTorch, which the rest of the package does not.
"""

from .encoder import (
    ConvEmbeddingNet,
    TripletEncoder,
    mine_semi_hard_triplets,
    semi_hard_triplet_loss,
)

__all__ = [
    "ConvEmbeddingNet",
    "TripletEncoder",
    "mine_semi_hard_triplets",
    "semi_hard_triplet_loss",
]
