"""Save an optimizer mid-run and resume it: the resumed run is bit-identical to an unbroken one."""

import os
import tempfile

import numpy as np

import fastoptim as fo


def grads_at(step):
    return [np.random.default_rng(step).standard_normal(1000).astype(np.float32)]


unbroken = np.ones(1000, np.float32)
opt = fo.Adam([unbroken], lr=1e-2, amsgrad=True)
for t in range(20):
    opt.step(grads_at(t))

resumed = np.ones(1000, np.float32)
opt = fo.Adam([resumed], lr=1e-2, amsgrad=True)
for t in range(10):
    opt.step(grads_at(t))
path = os.path.join(tempfile.mkdtemp(), "optimizer.npz")
opt.save(path)  # atomic: a temporary file, then a rename
np.save(path.replace(".npz", "-params.npy"), resumed)

params = np.load(path.replace(".npz", "-params.npy"))
opt = fo.Adam([params], lr=1e-2, amsgrad=True)
opt.load(path)
for t in range(10, 20):
    opt.step(grads_at(t))

print("bit-identical:", np.array_equal(params, unbroken))
