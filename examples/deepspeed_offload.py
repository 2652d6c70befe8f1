"""fastoptim.torch.AdamW as DeepSpeed ZeRO-Offload's CPU optimizer, on the CPU.

DeepSpeed runs here without a GPU (DS_ACCELERATOR=cpu, the gloo backend). With ZeRO stage 2 and
``offload_optimizer: {device: cpu}`` it hands the optimizer flat fp32 partitions of the parameters;
``zero_force_ds_cpu_optimizer: false`` lets it take an optimizer other than its DeepSpeedCPUAdam.
The same model trains with DeepSpeedCPUAdam and with fastoptim's AdamW (float32 state, then 8-bit
state), and the script prints the losses, the largest parameter difference, and the optimizer state's
bytes per parameter.

    python examples/deepspeed_offload.py          (one process; torchrun or deepspeed for more)
"""

import os

for key, value in dict(DS_ACCELERATOR="cpu", RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="29533").items():
    os.environ.setdefault(key, value)

import torch  # noqa: E402

import deepspeed  # noqa: E402
from deepspeed.ops.adam import DeepSpeedCPUAdam  # noqa: E402

import fastoptim.torch as fot  # noqa: E402

CONFIG = {
    "train_micro_batch_size_per_gpu": 32,
    "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}},
    "zero_force_ds_cpu_optimizer": False,
    "zero_allow_untested_optimizer": True,
}


def train(make_optimizer, steps=60):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.GELU(), torch.nn.Linear(256, 256), torch.nn.GELU(), torch.nn.Linear(256, 1))
    engine, optimizer, _, _ = deepspeed.initialize(model=model, optimizer=make_optimizer(model.parameters()), config=CONFIG)
    target = torch.nn.Linear(32, 1)  # a fixed random teacher
    losses = []
    for i in range(steps):
        x = torch.randn(32, 32, generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            y = target(x)
        loss = ((engine(x) - y) ** 2).mean()
        engine.backward(loss)
        engine.step()
        losses.append(loss.item())
    n = sum(p.numel() for p in model.parameters())
    inner = getattr(optimizer, "optimizer", optimizer)  # the CPU optimizer DeepSpeed wraps
    state = sum(t.numel() * t.element_size() for s in inner.state.values() for t in s.values() if torch.is_tensor(t) and t.dim() > 0)
    return losses, torch.cat([p.detach().flatten() for p in engine.module.parameters()]), state / n


deepspeed.init_distributed(dist_backend="gloo")
runs = {
    "DeepSpeedCPUAdam": train(lambda p: DeepSpeedCPUAdam(p, lr=1e-3, weight_decay=0.01, adamw_mode=True)),
    "fastoptim.torch.AdamW": train(lambda p: fot.AdamW(p, lr=1e-3, weight_decay=0.01)),
    "fastoptim.torch.AdamW, int8 state": train(lambda p: fot.AdamW(p, lr=1e-3, weight_decay=0.01, state_dtype="int8")),
}
for name, (losses, _, state) in runs.items():
    print(f"{name:36s} loss {losses[0]:.4f} -> {losses[-1]:.4f}   state {state:.1f} bytes per parameter")
reference = runs["DeepSpeedCPUAdam"][1]
print(f"largest parameter difference, fastoptim vs DeepSpeedCPUAdam: {(runs['fastoptim.torch.AdamW'][1] - reference).abs().max():.2e}")
