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
    ("Rprop", ref.rprop, dict()),
    ("Rprop", ref.rprop, dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True)),
    ("ASGD", ref.asgd, dict(lr=0.05)),
    ("ASGD", ref.asgd, dict(lr=0.05, lambd=0.01, alpha=0.5, t0=10, weight_decay=0.01, maximize=True)),
    ("Adan", ref.adan, dict(lr=1e-2)),
    ("Adan", ref.adan, dict(lr=1e-2, betas=(0.9, 0.8, 0.95), weight_decay=0.05, maximize=True)),
    ("Adan", ref.adan, dict(lr=1e-2, weight_decay=0.05, weight_decouple=True)),
    ("AdEMAMix", ref.ademamix, dict(lr=1e-2)),
    ("AdEMAMix", ref.ademamix, dict(lr=1e-2, betas=(0.8, 0.9, 0.99), alpha=2.0, t_alpha_beta3=20, weight_decay=0.01)),
    ("AdEMAMix", ref.ademamix, dict(lr=1e-2, weight_decay=0.1, weight_decouple=True, fixed_decay=True, maximize=True)),
    ("AdEMAMix", ref.ademamix, dict(lr=1e-2, weight_decay=0.1, weight_decouple=True)),
    ("SparseAdam", ref.sparse_adam, dict(lr=1e-2)),
    ("SparseAdam", ref.sparse_adam, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, maximize=True)),
    ("RowWiseAdagrad", ref.rowwise_adagrad, dict(lr=0.1)),
    ("RowWiseAdagrad", ref.rowwise_adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.5, maximize=True)),
    ("Adafactor", ref.adafactor, dict()),
    ("Adafactor", ref.adafactor, dict(lr=0.05, beta2_decay=-0.5, eps=(1e-6, 1e-2), d=1.5, weight_decay=0.1, maximize=True)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in h.items()) or 'defaults'}" for name, _, h in CASES]

# Rules and options torch.optim has (SparseAdam only for sparse gradients: test_sparse.py), for the parity tests;
# the rules the pytorch-optimizer package has instead.
PYTORCH_OPTIMIZER = ("Adan", "AdEMAMix")
TORCH_CASES = [
    (i, case)
    for i, case in enumerate(CASES)
    if case[0] not in ("Lion", "LAMB", "LARS", "RowWiseAdagrad", "SparseAdam") + PYTORCH_OPTIMIZER and not case[2].get("average")
]
# pytorch-optimizer 4.1's Adan keeps its first "previous gradient" before negating for maximize, so
# its first gradient difference is -2g there, not 0; fastoptim's is 0 either way (see Adan's docstring).
PYTORCH_OPTIMIZER_CASES = [
    (i, case)
    for i, case in enumerate(CASES)
    if case[0] in PYTORCH_OPTIMIZER and not (case[0] == "Adan" and case[2].get("maximize"))
]
