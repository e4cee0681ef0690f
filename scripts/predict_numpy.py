#!/usr/bin/env python3
"""Score mixtures with a mixatlas checkpoint in NumPy only (no Rust), from its safetensors
export: an ensemble (`model.safetensors`) or a Gaussian process (`gp.safetensors`), with the
schema and config from the checkpoint's `manifest.json` (its `payload`).

    pip install numpy safetensors
    python3 scripts/predict_numpy.py out/regmix datasets/regmix/test_mixture_1m.csv > preds.csv

Prints one CSV row per input row: per target the mean and the epistemic std. Checked against
`mixatlas predict` by the test `cli::numpy_scores_checkpoints_like_mixatlas`.
"""
import os
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


def read_mixtures(mixtures_csv, mixture_columns, context_columns):
    rows = list(csv.DictReader(open(mixtures_csv)))
    w = np.array([[float(r[c]) for c in mixture_columns] for r in rows])
    w = w / w.sum(axis=1, keepdims=True)
    ctx = np.array([[float(r[c]) for c in context_columns] for r in rows]).reshape(len(rows), -1)
    return w, ctx


def matern(r, kernel):
    if kernel == "matern52":
        a = np.sqrt(5.0) * r
        return (1.0 + a + a * a / 3.0) * np.exp(-a)
    if kernel == "matern32":
        a = np.sqrt(3.0) * r
        return (1.0 + a) * np.exp(-a)
    return np.exp(-0.5 * r * r)


def gp(checkpoint, mixtures_csv, model):
    t = load_file(f"{checkpoint}/gp.safetensors")
    schema, config = model["schema"], model["config"]
    w, ctx = read_mixtures(mixtures_csv, schema["mixture_columns"], schema["context"])
    q = (np.concatenate([transform(w, config["input_transform"]), ctx], axis=1) - t["input_mean"]) / t["input_std"]
    x = t["x"]
    targets = [tg["name"] for tg in schema["targets"]]
    columns = []
    for j in range(len(targets)):
        l = t[f"targets.{j}.lengthscales"]
        s2, n2, c = (float(t[f"targets.{j}.{k}"][0]) for k in ("signal_var", "noise_var", "calibration"))
        dist = lambda a, b: np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) / l) ** 2, 0).sum(-1))
        kxx = s2 * matern(dist(x, x), config["kernel"]) + (n2 + 1e-8) * np.eye(len(x))
        kxq = s2 * matern(dist(x, q), config["kernel"])
        mean = kxq.T @ t[f"targets.{j}.alpha"]
        var = np.maximum(s2 - np.einsum("iq,iq->q", kxq, np.linalg.solve(kxx, kxq)), 0.0) * c * c
        sd, mu = t["target_std"][j], t["target_mean"][j]
        columns += [mean * sd + mu, np.sqrt(var) * sd]
    out = csv.writer(sys.stdout)
    out.writerow([f"{n}_{f}" for n in targets for f in ("mean", "epistemic_std")])
    for row in np.stack(columns, axis=1):
        out.writerow(row)


def read_checkpoint(checkpoint):
    """The kind and the fields of a checkpoint: the envelope's payload (`manifest.json` of
    format `mixatlas-surrogate`), or the files mixatlas 0.1 wrote."""
    path = f"{checkpoint}/manifest.json"
    if os.path.exists(path):
        manifest = json.load(open(path))
        if manifest["format"] == "mixatlas-surrogate":
            return manifest["kind"], manifest["payload"]
        return "ensemble", manifest
    if os.path.exists(f"{checkpoint}/gp.json"):
        return "gp", json.load(open(f"{checkpoint}/gp.json"))
    raise SystemExit(f"{checkpoint}: no ensemble or GP checkpoint (a mixing law has no export)")


def main(checkpoint, mixtures_csv):
    kind, manifest = read_checkpoint(checkpoint)
    if kind == "gp":
        return gp(checkpoint, mixtures_csv, manifest)
    if kind != "ensemble":
        raise SystemExit(f"a {kind} checkpoint has no safetensors export to score")
    t = load_file(f"{checkpoint}/model.safetensors")
    schema, config = manifest["schema"], manifest["config"]
    if config["activation"] not in ACTIVATIONS:
        raise SystemExit(f"activation {config['activation']} is not implemented here")
    act = ACTIVATIONS[config["activation"]]
    w, ctx = read_mixtures(mixtures_csv, schema["mixture_columns"], schema["context"])
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
    # The member spread as calibrated out-of-bag (absent in checkpoints written before it).
    scale = np.array(manifest.get("epistemic_scale") or [1.0] * len(targets))
    out = csv.writer(sys.stdout)
    out.writerow([f"{n}_{f}" for n in targets for f in ("mean", "epistemic_std")])
    for mean, std in zip(means.mean(axis=0), means.std(axis=0) * scale):
        out.writerow([v for pair in zip(mean, std) for v in pair])


if __name__ == "__main__":
    main(*sys.argv[1:3])
