"""A small multilayer perceptron in NumPy: dense layers, softmax cross-entropy, backprop by hand."""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

__all__ = ["MLP"]

_ACTIVATIONS: Dict[str, Tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    # name: (f, f' expressed through the output a = f(z))
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a * a),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(a.dtype)),
}
_BN_EPS = 1e-5
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

    Two remedies for vanishing gradients are built in:

    * ``batch_norm=True`` normalises each hidden layer's pre-activation over the batch before the
      activation, :math:`u = \gamma \hat z + \beta` with :math:`\hat z = (z - \mu_B)/\sqrt{\sigma_B^2
      + 10^{-5}}` (Ioffe & Szegedy 2015; parameters ``gamma<i>`` and ``beta<i>``), which keeps the
      activation in its steep range and divides the backward signal by the batch's :math:`\sigma_B`;
    * ``residual=True`` adds each hidden layer's input to its output where the widths agree,
      :math:`a_{i+1} = a_i + f(\cdot)` (He et al. 2016), so the gradient also flows through the
      identity, untouched by the activation's slope.

    Batch statistics are used in every call (there is no running average for inference).

    Args:
        sizes: layer widths, input first, classes last, e.g. ``[64, 32, 10]``.
        activation: ``"relu"``, ``"sigmoid"`` or ``"tanh"``.
        init: weight scale ``"he"`` (:math:`\sqrt{2/n_{in}}`), ``"xavier"``
            (:math:`\sqrt{2/(n_{in}+n_{out})}`) or ``"normal"`` (1).
        seed: for the initial weights.
        dtype: float32 or float64.
        batch_norm: normalise every hidden layer's pre-activation over the batch.
        residual: skip connections around the hidden layers after the first whose input and output
            widths agree.

    Example:
        >>> import numpy as np
        >>> from fastoptim.lab import MLP
        >>> net = MLP([4, 8, 3], seed=0)
        >>> loss, grads = net.loss_and_grads(np.ones((5, 4)), np.array([0, 1, 2, 0, 1]))
        >>> sorted(grads) == sorted(net.params), grads["W0"].shape
        (True, (4, 8))
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        init: str = "he",
        seed: int = 0,
        dtype: type = np.float64,
        batch_norm: bool = False,
        residual: bool = False,
    ) -> None:
        if len(sizes) < 2:
            raise ValueError("an MLP needs at least an input and an output size")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if init not in _INITS:
            raise ValueError(f"init must be one of {sorted(_INITS)}, got {init!r}")
        rng = np.random.default_rng(seed)
        self.activation, self.layers, self.batch_norm = activation, len(sizes) - 1, batch_norm
        # Layer i gets a skip connection when it is a hidden layer after the first and keeps the width.
        self.skips = [residual and 0 < i < len(sizes) - 2 and sizes[i] == sizes[i + 1] for i in range(len(sizes) - 1)]
        self.params: Dict[str, np.ndarray] = {}
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            scale = _INITS[init](n_in, n_out)
            self.params[f"W{i}"] = (scale * rng.standard_normal((n_in, n_out))).astype(dtype)
            self.params[f"b{i}"] = np.zeros(n_out, dtype)
            if batch_norm and i < self.layers - 1:
                self.params[f"gamma{i}"] = np.ones(n_out, dtype)
                self.params[f"beta{i}"] = np.zeros(n_out, dtype)

    def forward(self, X: np.ndarray) -> Tuple[np.ndarray, list]:
        """Logits, and each layer's saved values for backprop: its input, its activation's output
        and, with batch normalisation, the normalised pre-activation and the batch's std."""
        f, _ = _ACTIVATIONS[self.activation]
        saved: List[tuple] = []
        a = X
        for i in range(self.layers):
            z = a @ self.params[f"W{i}"] + self.params[f"b{i}"]
            if i == self.layers - 1:
                saved.append((a, None, None, None))
                return z, saved
            zhat, std = None, None
            if self.batch_norm:
                std = np.sqrt(z.var(axis=0) + _BN_EPS)
                zhat = (z - z.mean(axis=0)) / std
                z = self.params[f"gamma{i}"] * zhat + self.params[f"beta{i}"]
            h = f(z)
            saved.append((a, h, zhat, std))
            a = a + h if self.skips[i] else h
        raise AssertionError("unreachable")

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray) -> Tuple[float, Dict[str, np.ndarray]]:
        """Mean softmax cross-entropy on ``(X, y)`` and its gradient for every parameter."""
        _, df = _ACTIVATIONS[self.activation]
        logits, saved = self.forward(X)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(y)
        loss = float(-log_probs[np.arange(n), y].mean())
        up = np.exp(log_probs)  # the gradient with respect to the current layer's output
        up[np.arange(n), y] -= 1
        up /= n
        grads: Dict[str, np.ndarray] = {}
        for i in reversed(range(self.layers)):
            a, h, zhat, std = saved[i]
            dz = up
            if h is not None:
                dz = up * df(h)
                if zhat is not None:  # back through u = gamma zhat + beta and the batch statistics
                    grads[f"gamma{i}"] = (dz * zhat).sum(axis=0)
                    grads[f"beta{i}"] = dz.sum(axis=0)
                    d = dz * self.params[f"gamma{i}"]
                    dz = (d - d.mean(axis=0) - zhat * (d * zhat).mean(axis=0)) / std
            grads[f"W{i}"] = a.T @ dz
            grads[f"b{i}"] = dz.sum(axis=0)
            if i:
                up = dz @ self.params[f"W{i}"].T + (up if self.skips[i] else 0)
        return loss, {k: np.ascontiguousarray(grads[k], dtype=self.params[k].dtype) for k in self.params}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most likely class of each row."""
        return self.forward(X)[0].argmax(axis=1)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        """The share of rows whose predicted class is ``y``."""
        return float((self.predict(X) == y).mean())
