#!/usr/bin/env python3
"""The Python quickstart (docs/python.md): fit the Gaussian process on 400 of RegMix's
1M-parameter proxy runs, predict the other 112 with their uncertainty, save the checkpoint the
CLI reads, and build runs from a pandas DataFrame. Run from the repository root after
`pip install ./python`."""
import numpy as np
import pandas as pd

import mixatlas

runs = mixatlas.Runs.from_csv("configs/data/regmix-1m-train.toml")
print(f"{len(runs)} runs over {len(runs.domains)} domains, targets {runs.targets}")
targets = [(t, "lower") for t in runs.targets]
fit_on = mixatlas.Runs.from_arrays(runs.domains, runs.mixtures[:400], targets, runs.outcomes[:400])
held_out_w, held_out_y = runs.mixtures[400:], runs.outcomes[400:]

model = mixatlas.fit(fit_on, surrogate="gp", seed=0)
mean, std = model.predict(held_out_w)                     # [n, targets] each
parts = model.posterior(held_out_w)                       # mean, epistemic_std, aleatoric_std, std
error = np.abs(mean[:, 0] - held_out_y[:, 0])
print(f"held-out mean absolute error {error.mean():.4f}, "
      f"epistemic std {parts['epistemic_std'].mean():.4f}, aleatoric std {parts['aleatoric_std'].mean():.4f}")
model.save("out/python-gp", overwrite=True)               # `mixatlas predict --checkpoint out/python-gp` reads it

# Your own runs as a DataFrame: weight columns, outcome columns, a run key.
df = pd.DataFrame({"run": [f"r{i}" for i in range(len(runs))], "pile_cc_loss": runs.outcomes[:, 0]})
for j, d in enumerate(runs.domains):
    df[d] = runs.mixtures[:, j]
own = mixatlas.Runs.from_pandas(df, mixture=runs.domains, targets=[("pile_cc_loss", "lower")], key="run")
print(f"from pandas: {len(own)} runs, first {own.keys[0]}")

# The next four runs to train: tell the proposer what was measured, ask for a spaced batch.
proposer = mixatlas.Proposer(fit_on, surrogate="gp", acquisition="ucb", beta=1.0, samples=5000, seed=0)
proposer.tell(fit_on)
print(proposer.ask(4)[["pile_cc_loss_mean", "pile_cc_loss_epistemic_std", "nearest_run_distance"]])
