"""The network and its pieces, each written once against the Array API: activations and losses (each beside its
derivative), weight initialisation, and the multilayer perceptron with hand-written backprop."""

from __future__ import annotations

from .network import MLP

__all__ = ["MLP"]
