"""The lab: small, self-contained experiments on why training gets stuck and what fixes it."""

from .mlp import MLP

__all__ = ["MLP"]
