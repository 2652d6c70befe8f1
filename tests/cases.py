"""The rules and options every correctness test runs: (class name, reference, settings, torch name or None)."""

from __future__ import annotations

import reference as ref

CASES = [
    ("SGD", ref.sgd, dict(lr=0.05)),
    ("SGD", ref.sgd, dict(lr=0.05, momentum=0.9)),
    ("SGD", ref.sgd, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", ref.sgd, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", ref.sgd, dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("SGD", ref.sgd, dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", ref.adam, dict(lr=1e-2)),
    ("Adam", ref.adam, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", ref.adam, dict(lr=1e-2, amsgrad=True)),
    ("Adam", ref.adam, dict(lr=1e-2, weight_decay=0.05, maximize=True, decoupled_weight_decay=True)),
    ("AdamW", ref.adamw, dict(lr=1e-2)),
    ("AdamW", ref.adamw, dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("Adagrad", ref.adagrad, dict(lr=0.1)),
    ("Adagrad", ref.adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.5)),
    ("Adagrad", ref.adagrad, dict(lr=0.1, maximize=True, eps=1e-6)),
    ("Adagrad", ref.adagrad, dict(lr=0.01, average=True, lr_decay=0.05)),
    ("Adagrad", ref.adagrad, dict(lr=0.01, average=True)),
    ("RMSprop", ref.rmsprop, dict(lr=1e-2)),
    ("RMSprop", ref.rmsprop, dict(lr=1e-2, momentum=0.9, weight_decay=0.01)),
    ("RMSprop", ref.rmsprop, dict(lr=1e-2, centered=True, alpha=0.9)),
    ("RMSprop", ref.rmsprop, dict(lr=1e-2, centered=True, weight_decay=0.05)),
    ("RMSprop", ref.rmsprop, dict(lr=1e-2, centered=True, momentum=0.5, maximize=True)),
    ("Adadelta", ref.adadelta, dict()),
    ("Adadelta", ref.adadelta, dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.01, maximize=True)),
    ("Adamax", ref.adamax, dict(lr=1e-2)),
    ("Adamax", ref.adamax, dict(lr=1e-2, betas=(0.8, 0.9), weight_decay=0.01, maximize=True)),
    ("NAdam", ref.nadam, dict(lr=1e-2)),
    ("NAdam", ref.nadam, dict(lr=1e-2, weight_decay=0.01, momentum_decay=0.01)),
    ("NAdam", ref.nadam, dict(lr=1e-2, weight_decay=0.05, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", ref.radam, dict(lr=1e-2)),
    ("RAdam", ref.radam, dict(lr=1e-2, betas=(0.9, 0.9), weight_decay=0.01)),
    ("RAdam", ref.radam, dict(lr=1e-2, weight_decay=0.05, decoupled_weight_decay=True, maximize=True)),
    ("Lion", ref.lion, dict(lr=1e-3)),
    ("Lion", ref.lion, dict(lr=1e-3, betas=(0.95, 0.98), weight_decay=0.1, maximize=True)),
    ("LAMB", ref.lamb, dict(lr=1e-2)),
    ("LAMB", ref.lamb, dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.01, maximize=True)),
    ("LARS", ref.lars, dict(lr=0.5)),
    ("LARS", ref.lars, dict(lr=0.5, momentum=0.0, weight_decay=0.01, trust_coefficient=0.02)),
    ("LARS", ref.lars, dict(lr=0.5, momentum=0.8, weight_decay=0.001, maximize=True)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in h.items()) or 'defaults'}" for name, _, h in CASES]

# Rules and options torch.optim has, for the parity tests.
TORCH_CASES = [
    (i, case) for i, case in enumerate(CASES) if case[0] not in ("Lion", "LAMB", "LARS") and not case[2].get("average")
]
