"""ZeRO stage 1 over MPI: optimizer state sharded across data-parallel processes.

Every process (rank) holds the full parameters and computes full gradients on its own data. The
flattened parameter space, all parameters end to end in group order, is cut into one contiguous
shard per rank, balanced by element count (a parameter may be split between ranks). A step
reduce-scatters the gradients so each rank gets the average of its shard, runs the wrapped
fastoptim rule on that shard only, and all-gathers the updated parameters into every rank's arrays.
Each rank keeps optimizer state for its shard only: state memory divides by the number of ranks
(Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models").

Run under ``mpiexec -n 2 python train.py``; the ``mpi`` extra installs mpi4py and MPICH.
"""

from .launch import mpiexec
from .zero import ZeroOptimizer

__all__ = ["ZeroOptimizer", "mpiexec"]
