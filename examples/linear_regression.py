"""Fit a linear model with AdamW: parameters are plain NumPy arrays, updated in place each step."""

import numpy as np

import fastoptim as fo

rng = np.random.default_rng(0)
X = rng.standard_normal((512, 8)).astype(np.float32)
true_w = rng.standard_normal(8).astype(np.float32)
y = X @ true_w + 0.5

w = np.zeros(8, np.float32)
b = np.zeros(1, np.float32)
opt = fo.AdamW({"w": w, "b": b}, lr=0.05, weight_decay=0.0)

for step in range(300):
    err = X @ w + b - y  # the model's residuals
    loss = float(np.mean(err**2))
    grads = {"w": (2 / len(y)) * X.T @ err, "b": np.array([2 * err.mean()], np.float32)}
    opt.step(grads)  # w and b change in place; nothing is copied
    if step % 100 == 0:
        print(f"step {step:3d}  loss {loss:.5f}")

print(f"final loss {float(np.mean((X @ w + b - y) ** 2)):.2e}, |w - true_w| = {np.abs(w - true_w).max():.2e}")
