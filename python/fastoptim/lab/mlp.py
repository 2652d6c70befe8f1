"""A small multilayer perceptron in NumPy: dense layers, softmax cross-entropy, backprop by hand."""

from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import numpy as np

__all__ = ["MLP"]

_ACTIVATIONS: Dict[str, Tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    # name: (f, f' expressed through the output a = f(z))
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a * a),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(a.dtype)),
}
_INITS: Dict[str, Callable[[int, int], float]] = {
    "he": lambda fan_in, fan_out: np.sqrt(2.0 / fan_in),  # Kaiming He et al. 2015, for ReLU
    "xavier": lambda fan_in, fan_out: np.sqrt(2.0 / (fan_in + fan_out)),  # Glorot & Bengio 2010
    "normal": lambda fan_in, fan_out: 1.0,
}


class MLP:
    r"""Dense layers with an activation between them and a softmax cross-entropy loss.

    Layer :math:`i` computes :math:`a_{i+1} = f(a_i W_i + b_i)` (no activation after the last);
    the loss is the mean of :math:`-\log \operatorname{softmax}(z)_y`. Parameters are plain arrays
    in :attr:`params` (``W0, b0, W1, b1, ...``), ready for any fastoptim optimizer, and
    :meth:`loss_and_grads` returns gradients with the same names.

    Args:
        sizes: layer widths, input first, classes last, e.g. ``[64, 32, 10]``.
        activation: ``"relu"``, ``"sigmoid"`` or ``"tanh"``.
        init: weight scale ``"he"`` (:math:`\sqrt{2/n_{in}}`), ``"xavier"``
            (:math:`\sqrt{2/(n_{in}+n_{out})}`) or ``"normal"`` (1).
        seed: for the initial weights.
        dtype: float32 or float64.

    Example:
        >>> import numpy as np
        >>> from fastoptim.lab import MLP
        >>> net = MLP([4, 8, 3], seed=0)
        >>> loss, grads = net.loss_and_grads(np.ones((5, 4)), np.array([0, 1, 2, 0, 1]))
        >>> sorted(grads) == sorted(net.params), grads["W0"].shape
        (True, (4, 8))
    """

    def __init__(
        self, sizes: Sequence[int], activation: str = "relu", init: str = "he", seed: int = 0, dtype: type = np.float64
    ) -> None:
        if len(sizes) < 2:
            raise ValueError("an MLP needs at least an input and an output size")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if init not in _INITS:
            raise ValueError(f"init must be one of {sorted(_INITS)}, got {init!r}")
        rng = np.random.default_rng(seed)
        self.activation, self.layers = activation, len(sizes) - 1
        self.params: Dict[str, np.ndarray] = {}
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            scale = _INITS[init](n_in, n_out)
            self.params[f"W{i}"] = (scale * rng.standard_normal((n_in, n_out))).astype(dtype)
            self.params[f"b{i}"] = np.zeros(n_out, dtype)

    def forward(self, X: np.ndarray) -> Tuple[np.ndarray, list]:
        """Logits, and the activations of every layer (the input first) for backprop."""
        f, _ = _ACTIVATIONS[self.activation]
        acts = [X]
        a = X
        for i in range(self.layers):
            z = a @ self.params[f"W{i}"] + self.params[f"b{i}"]
            a = z if i == self.layers - 1 else f(z)
            acts.append(a)
        return a, acts

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray) -> Tuple[float, Dict[str, np.ndarray]]:
        """Mean softmax cross-entropy on ``(X, y)`` and its gradient for every parameter."""
        _, df = _ACTIVATIONS[self.activation]
        logits, acts = self.forward(X)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(y)
        loss = float(-log_probs[np.arange(n), y].mean())
        delta = np.exp(log_probs)
        delta[np.arange(n), y] -= 1
        delta /= n
        grads: Dict[str, np.ndarray] = {}
        for i in reversed(range(self.layers)):
            grads[f"W{i}"] = acts[i].T @ delta
            grads[f"b{i}"] = delta.sum(axis=0)
            if i:
                delta = (delta @ self.params[f"W{i}"].T) * df(acts[i])
        return loss, {k: np.ascontiguousarray(grads[k], dtype=self.params[k].dtype) for k in self.params}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most likely class of each row."""
        return self.forward(X)[0].argmax(axis=1)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        """The share of rows whose predicted class is ``y``."""
        return float((self.predict(X) == y).mean())
