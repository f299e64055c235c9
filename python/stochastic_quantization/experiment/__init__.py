"""Semi-supervised image classification experiment: a triplet-loss CNN encoder, then SQ.

The encoder maps images to a low-dimensional latent space where stochastic quantization then
clusters them. The encoder needs PyTorch (the extra ``experiment``), which the rest of the
package does not need. Its names are imported on first access, so ``experiment.cli`` loads
without PyTorch.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConvEmbeddingNet",
    "TripletEncoder",
    "mine_semi_hard_triplets",
    "semi_hard_triplet_loss",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import encoder

        return getattr(encoder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
