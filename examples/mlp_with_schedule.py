"""Train a small NumPy MLP with AdamW, a warm-up + cosine schedule, clipping inside the step, and a
gradient monitor watching for vanishing or exploding gradients."""

import numpy as np

import fastoptim as fo
from fastoptim import schedules as S
from fastoptim.diagnostics import GradientMonitor
from fastoptim.lab import MLP

rng = np.random.default_rng(0)
centers = rng.standard_normal((4, 16)) * 0.7  # four Gaussian blobs in 16 dimensions
y = rng.integers(0, 4, 2000)
X = centers[y] + rng.standard_normal((2000, 16))

net = MLP([16, 64, 64, 4], activation="relu", init="he", seed=0, dtype=np.float32)
steps = 300
opt = fo.AdamW(net.params, lr=S.warmup_cosine(3e-3, warmup_steps=30, total_steps=steps), weight_decay=1e-4, max_grad_norm=1.0)
monitor = GradientMonitor()

for step in range(steps):
    rows = rng.choice(len(y), 64, replace=False)
    loss, grads = net.loss_and_grads(X[rows].astype(np.float32), y[rows])
    opt.step(grads)  # the schedule is evaluated and the gradients clipped inside this one call
    monitor.record(grads, params=net.params, loss=loss)
    if step % 100 == 0:
        print(f"step {step:3d}  loss {loss:.3f}  lr {opt.last_lr[0]:.2e}  |grad| {opt.last_grad_norm:.3f}")

print(monitor.summary())
print(f"accuracy {net.accuracy(X.astype(np.float32), y):.3f}")
