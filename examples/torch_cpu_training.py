"""Train a small Transformer encoder on the CPU with fastoptim.torch.AdamW and a torch lr_scheduler,
side by side with torch.optim.AdamW(fused=True): the same model, data and schedule; the script prints
both losses and the median optimizer-step time of each.

Run: python examples/torch_cpu_training.py   (needs torch)
"""

import statistics
import time

import torch

import fastoptim.torch as fot

torch.manual_seed(0)
VOCAB, LENGTH, WIDTH, STEPS = 32, 16, 64, 60
# A synthetic task: predict, at each position, the token three places back (needs attention).
data = torch.randint(0, VOCAB, (64, LENGTH + 3))
inputs, targets = data[:, 3:], data[:, :-3]


def make_model():
    torch.manual_seed(1)
    layer = torch.nn.TransformerEncoderLayer(WIDTH, nhead=4, dim_feedforward=128, dropout=0.0, batch_first=True)
    return torch.nn.ModuleDict(
        {
            "embed": torch.nn.Embedding(VOCAB, WIDTH),
            "position": torch.nn.Embedding(LENGTH, WIDTH),
            "encoder": torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False),
            "out": torch.nn.Linear(WIDTH, VOCAB),
        }
    )


def forward(model, x):
    h = model["embed"](x) + model["position"](torch.arange(x.shape[1]))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(x.shape[1])
    return model["out"](model["encoder"](h, mask=mask, is_causal=True))


def train(make_optimizer):
    model = make_model()
    opt = make_optimizer(model.parameters())
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=STEPS)
    losses, step_times = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(model, inputs).reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        t0 = time.perf_counter()
        opt.step()
        step_times.append(time.perf_counter() - t0)
        sched.step()
        losses.append(loss.item())
    return losses, statistics.median(step_times)


ours, ours_time = train(lambda ps: fot.AdamW(ps, lr=3e-3, weight_decay=0.01))
theirs, theirs_time = train(lambda ps: torch.optim.AdamW(ps, lr=3e-3, weight_decay=0.01, fused=True))
print(f"fastoptim.torch.AdamW  loss {ours[0]:.3f} -> {ours[-1]:.3f}  step {ours_time * 1e6:.0f} us")
print(f"torch AdamW(fused)     loss {theirs[0]:.3f} -> {theirs[-1]:.3f}  step {theirs_time * 1e6:.0f} us")
print(f"largest loss difference over the run: {max(abs(a - b) for a, b in zip(ours, theirs)):.2e}")
