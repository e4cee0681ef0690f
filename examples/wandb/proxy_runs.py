#!/usr/bin/env python3
"""Stands in for a training script that logs to Weights & Biases: eight proxy runs, each with
its data mixture in the run config (`data.mix.<domain>`) and its evaluation metrics logged as
it trains, written offline to ./wandb as `wandb.init` writes them. The loss is a made-up
function of the mixture; the last run is stopped at step 200 (unfinished).

    python3 examples/wandb/proxy_runs.py && mixatlas import wandb wandb/* ...
"""
import math
import random

import wandb

rng = random.Random(0)
for i in range(8):
    raw = [rng.gammavariate(1.0, 1.0) for _ in range(3)]
    mix = dict(zip(["web", "code", "math"], (x / sum(raw) for x in raw)))
    run = wandb.init(mode="offline", project="proxy-mixtures", id=f"proxy{i:02d}",
                     config={"lr": 3e-4, "data": {"mix": mix}})
    last = 200 if i == 7 else 1000
    for step in range(0, last + 1, 200):
        progress = 1 + step / 1000
        loss = (3.2 - 0.8 * math.sqrt(mix["web"]) - 0.5 * mix["code"] * (1 - mix["code"])) / progress
        run.log({"eval": {"loss": loss, "acc": 0.9 - loss / 5}}, step=step)
    run.finish()
