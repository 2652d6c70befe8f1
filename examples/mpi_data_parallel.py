"""Data-parallel training of the lab's MLP on the digits, with optimizer state sharded over MPI ranks.

    mpiexec -n 2 python examples/mpi_data_parallel.py

Every rank holds the whole network and computes gradients on its own part of each batch;
ZeroOptimizer averages them, each rank updates the shard of the parameters it owns (keeping AdamW's
moments for that shard only), and the updated shards are gathered into every rank's arrays. Rank 0
then checks the result against one process training on the whole batches.
"""

import numpy as np
from mpi4py import MPI
from sklearn.datasets import load_digits

import fastoptim as fo
from fastoptim.distributed import ZeroOptimizer
from fastoptim.lab import MLP

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()

data = load_digits()
X, y = (data.data / 16.0).astype(np.float32), data.target
order = np.random.default_rng(0).permutation(len(y))
train, val = order[360:], order[:360]

net = MLP([64, 64, 10], activation="relu", seed=0, dtype=np.float32)  # the same start on every rank
opt = ZeroOptimizer(fo.AdamW, net.params, lr=3e-3, weight_decay=1e-4)
alone = MLP([64, 64, 10], activation="relu", seed=0, dtype=np.float32)  # rank 0's one-process reference
reference = fo.AdamW(alone.params, lr=3e-3, weight_decay=1e-4)

batch = 64 * size  # each rank takes 64 rows of every batch
rng = np.random.default_rng(1)  # the same batches on every rank
for epoch in range(8):
    shuffled = rng.permutation(train)
    losses = []
    for start in range(0, len(shuffled) - batch + 1, batch):
        rows = shuffled[start : start + batch]
        mine = rows[rank::size]  # this rank's share of the batch
        loss, grads = net.loss_and_grads(X[mine], y[mine])
        opt.step(grads)  # averaged over ranks: the gradient of the whole batch
        losses.append(comm.allreduce(loss) / size)
        if rank == 0:
            reference.step(alone.loss_and_grads(X[rows], y[rows])[1])
    if rank == 0:
        print(f"epoch {epoch}  loss {np.mean(losses):.4f}")

flat = np.concatenate([p.ravel() for p in net.params.values()])
same = comm.allreduce(bool(np.array_equal(flat, comm.bcast(flat, root=0))), op=MPI.LAND)
held = comm.gather(opt.local_numel, root=0)
if rank == 0:
    print(f"ranks {size}: parameter elements each rank keeps AdamW state for: {held} of {flat.size}")
    print(f"the parameters are identical on every rank: {same}")
    print(f"validation accuracy {net.accuracy(X[val], y[val]):.3f}")
    gap = max(float(np.abs(net.params[k] - alone.params[k]).max()) for k in net.params)
    print(f"largest difference from one process on the whole batches: {gap:.2e}")
