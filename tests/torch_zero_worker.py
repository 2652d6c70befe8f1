"""Run by test_torch_distributed.py: ZeroRedundancyOptimizer over DDP (gloo, 2 processes on
localhost) with fastoptim.torch.Adam and with torch.optim.Adam; rank 0 prints the largest
difference between the two runs' parameters, for each bucket-view setting."""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.optim import ZeroRedundancyOptimizer

import fastoptim.torch as fot


def train(cls, rank, bucket):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 2)).double()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=cls, parameters_as_bucket_view=bucket, lr=0.05)
    data = torch.Generator().manual_seed(rank)  # each rank its own batches
    for _ in range(8):
        x = torch.randn(16, 6, generator=data, dtype=torch.float64)
        y = torch.randn(16, 2, generator=data, dtype=torch.float64)
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x), y).backward()
        opt.step()
    opt.consolidate_state_dict(to=0)
    steps = [int(s["step"]) for s in opt.state_dict()["state"].values()] if rank == 0 else []
    return [p.detach().clone() for p in model.parameters()], steps


def work(rank, world, port):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    for bucket in (False, True):
        ours, steps = train(fot.Adam, rank, bucket)
        theirs, _ = train(torch.optim.Adam, rank, bucket)
        if rank == 0:
            diff = max(float((a - b).abs().max()) for a, b in zip(ours, theirs))
            print(f"bucket={bucket} diff={diff} steps={sorted(set(steps))}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(work, args=(2, int(sys.argv[1])), nprocs=2, join=True)
