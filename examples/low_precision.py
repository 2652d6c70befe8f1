"""Train with bfloat16 weights and 8-bit Adam state, beside float32: both fit, in half the memory.

The weights are bfloat16 (ml_dtypes); the optimizer keeps their float32 master as the 16 low bits
beside them, computes Adam in float32 and keeps m and v as 8-bit codes with a scale per block of 256.
The gradient is computed in float32 from the widened weights, as mixed-precision training does.
"""

import ml_dtypes
import numpy as np

import fastoptim as fo

rng = np.random.default_rng(0)
X = rng.standard_normal((512, 256)).astype(np.float32)
true_w = rng.standard_normal((256, 64)).astype(np.float32)
Y = X @ true_w


def loss_and_grad(w):
    r = X @ w - Y
    return float(np.mean(r**2)), (2 / r.size) * (X.T @ r)


runs = {
    "float32 weights, float32 state": (np.zeros((256, 64), np.float32), {}),
    "bfloat16 weights + master bits, int8 state": (np.zeros((256, 64), ml_dtypes.bfloat16), dict(state_dtype="int8")),
}
for label, (w, options) in runs.items():
    opt = fo.Adam([w], lr=0.05, **options)
    first = loss_and_grad(w.astype(np.float32))[0]
    for _ in range(300):
        _, grad = loss_and_grad(w.astype(np.float32))
        opt.step([grad])
    loss = loss_and_grad(w.astype(np.float32))[0]
    memory = (w.nbytes + opt.state_nbytes()) / w.size
    print(f"{label:45s} loss {first:.3f} -> {loss:.5f}   {memory:.2f} bytes per parameter")
# bfloat16 holds about 3 significant digits: the float32 fit rounded to it is about as good as such weights get.
floor = loss_and_grad(runs["float32 weights, float32 state"][0].astype(ml_dtypes.bfloat16).astype(np.float32))[0]
print(f"{'the float32 fit rounded to bfloat16':45s} loss {floor:.5f}")
