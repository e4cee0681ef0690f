#!/usr/bin/env python3
"""Score mixtures with a mixatlas checkpoint in NumPy only (no Rust), from model.safetensors.

    pip install numpy safetensors
    python3 scripts/predict_numpy.py out/regmix datasets/regmix/test_mixture_1m.csv > preds.csv

Prints one CSV row per input row: per target the ensemble mean and the epistemic std. Checked
against `mixatlas predict` on the RegMix test mixtures: max |difference| 4e-8.
"""
import csv
import json
import sys

import numpy as np
from safetensors.numpy import load_file

ACTIVATIONS = {
    "silu": lambda h: h / (1.0 + np.exp(-h)),
    "relu": lambda h: np.maximum(h, 0.0),
    "tanh": np.tanh,
}


def transform(w, spec):
    kind = spec["kind"]
    if kind == "identity":
        return w
    if kind == "sqrt":
        return np.sqrt(w)
    if kind == "sqrt-linear":
        return np.concatenate([np.sqrt(w), w], axis=-1)
    if kind == "log":
        return np.log(w + spec["eps"])
    raise ValueError(f"unknown input transform {kind}")


def main(checkpoint, mixtures_csv):
    manifest = json.load(open(f"{checkpoint}/manifest.json"))
    t = load_file(f"{checkpoint}/model.safetensors")
    schema, config = manifest["schema"], manifest["config"]
    if config["activation"] not in ACTIVATIONS:
        raise SystemExit(f"activation {config['activation']} is not implemented here")
    act = ACTIVATIONS[config["activation"]]
    rows = list(csv.DictReader(open(mixtures_csv)))
    w = np.array([[float(r[c]) for c in schema["mixture_columns"]] for r in rows])
    w = w / w.sum(axis=1, keepdims=True)
    ctx = np.array([[float(r[c]) for c in schema["context"]] for r in rows]).reshape(len(rows), -1)
    x = (np.concatenate([transform(w, config["input_transform"]), ctx], axis=1) - t["input_mean"]) / t["input_std"]
    layers = len(manifest["widths"]) - 1
    targets = [tg["name"] for tg in schema["targets"]]
    means = []
    for m in range(config["members"]):
        h = x
        for i in range(layers):
            h = h @ t[f"layers.{i}.weight"][m] + t[f"layers.{i}.bias"][m]
            if i < layers - 1:
                h = act(h)
        means.append(h[:, : len(targets)] * t["target_std"] + t["target_mean"])
    means = np.stack(means)  # [members, rows, targets]
    out = csv.writer(sys.stdout)
    out.writerow([f"{n}_{f}" for n in targets for f in ("mean", "epistemic_std")])
    for mean, std in zip(means.mean(axis=0), means.std(axis=0)):
        out.writerow([v for pair in zip(mean, std) for v in pair])


if __name__ == "__main__":
    main(*sys.argv[1:3])
