"""One process of a DeepSpeed ZeRO-Offload run on the CPU (DS_ACCELERATOR=cpu, gloo), for
tests/test_deepspeed.py: a small MLP trained 20 steps with ZeRO stage 1, 2 and 3 and optimizer
offload, fp32 and bf16, once with fastoptim.torch.AdamW and once with DeepSpeed's DeepSpeedCPUAdam;
then a checkpoint saved at step 10 and resumed. Writes the flat parameters per run to OUT/<rank>.pt."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("DS_ACCELERATOR", "cpu")

import torch  # noqa: E402

import deepspeed  # noqa: E402
import fastoptim.torch as fot  # noqa: E402

STEPS = 20


def build(stage: int, bf16: bool, which: str, seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    config = {
        "train_micro_batch_size_per_gpu": 8,
        "gradient_accumulation_steps": 1,
        "zero_optimization": {"stage": stage, "offload_optimizer": {"device": "cpu"}},
        "zero_force_ds_cpu_optimizer": False,
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": bf16},
    }
    if which == "fastoptim":
        opt = fot.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    else:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        opt = DeepSpeedCPUAdam(model.parameters(), lr=1e-3, weight_decay=0.01, adamw_mode=True)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=opt, config=config)
    return engine


def train(engine, start: int, stop: int, bf16: bool) -> None:
    rank = int(os.environ.get("RANK", "0"))
    for i in range(start, stop):
        g = torch.Generator().manual_seed(1000 * i + rank)
        x, y = torch.randn(8, 16, generator=g), torch.randn(8, 4, generator=g)
        if bf16:
            x = x.to(torch.bfloat16)
        loss = ((engine(x).float() - y) ** 2).mean()
        engine.backward(loss)
        engine.step()


def flat(engine, stage: int) -> torch.Tensor:
    params = list(engine.module.parameters())
    if stage == 3:
        from deepspeed.runtime.zero.partition_parameters import GatheredParameters

        with GatheredParameters(params):
            return torch.cat([p.detach().float().flatten().clone() for p in params])
    return torch.cat([p.detach().float().flatten().clone() for p in params])


def main() -> None:
    out = sys.argv[1]
    deepspeed.init_distributed(dist_backend="gloo")
    results = {}
    for stage in (1, 2, 3):
        for bf16 in (False, True):
            for which in ("fastoptim", "deepspeed"):
                engine = build(stage, bf16, which)
                train(engine, 0, STEPS, bf16)
                results[stage, bf16, which] = flat(engine, stage)
    # Checkpoints: save at step 10, resume in a new engine, finish: the same as unbroken.
    for stage in (2, 3):
        engine = build(stage, False, "fastoptim")
        train(engine, 0, STEPS // 2, False)
        engine.save_checkpoint(os.path.join(out, f"ckpt{stage}"), tag="mid")
        resumed = build(stage, False, "fastoptim", seed=1)  # other weights: the checkpoint must restore them
        resumed.load_checkpoint(os.path.join(out, f"ckpt{stage}"), tag="mid")
        train(resumed, STEPS // 2, STEPS, False)
        results[stage, False, "resumed"] = flat(resumed, stage)
    torch.save(results, os.path.join(out, f"{os.environ.get('RANK', '0')}.pt"))


if __name__ == "__main__":
    main()
