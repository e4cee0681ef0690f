#!/usr/bin/env python3
"""Reads a `mixatlas export` output the way its training stack does and prints the mixture it
would train on, as JSON `[[first_step, {domain: share}], ...]` (shares normalised as the stack
normalises them). Each reader applies the checks of the stack's own config class (cited);
a violation exits non-zero with the stack's message. Needs PyYAML (what these stacks load
YAML with).

    scripts/check-export.py FORMAT FILE    # FORMAT: olmo-core, olmix, levanter, mosaic, doremi
"""
import json
import math
import sys

import yaml


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def normalised(weights):
    total = sum(weights.values())
    if not total > 0:
        fail(f"weights sum to {total}")
    return {k: v / total for k, v in weights.items()}


def olmo_core(doc):
    # olmo_core/data/source_mixture.py: SourceMixtureConfig.validate, SourceMixtureList.
    sources = doc["source_list"]["sources"]
    names = [s["source_name"] for s in sources]
    if len(set(names)) != len(names):
        fail("source names must be unique")
    for s in sources:
        if not s["paths"]:
            fail("paths must not be empty")
        if not 0 < s["target_ratio"] <= 1:
            fail("target_ratio must be > 0 and <= 1")
        if not 0 < s.get("max_source_fraction", 1.0) <= 1:
            fail("max_source_fraction must > 0 and <= 1")
        if s.get("max_repetitions", 1.0) < 1:
            fail("max_repetitions must be >= 1")
    total = sum(s["target_ratio"] for s in sources)
    if not math.isclose(total, 1.0, rel_tol=1e-5, abs_tol=1e-8):
        fail(f"target ratios sum to {total}, not 1")
    return [[0, {s["source_name"]: s["target_ratio"] for s in sources}]]


def flatten_mix(mix):
    # olmix/aliases.py: flatten_mix / _flatten_mix_node (leaf weight = product along the path).
    flat = {}

    def node(prefix, value, weight, rep):
        weight *= value.get("weight", 1.0)
        rep = value.get("repetition_factor", rep)
        children = {k: v for k, v in value.items() if k not in ("weight", "repetition_factor")}
        if not children:
            flat[prefix] = {"weight": weight, "repetition_factor": rep}
        for k, v in children.items():
            if isinstance(v, dict):
                node(f"{prefix}:{k}", v, weight, rep)
            else:
                flat[f"{prefix}:{k}"] = {"weight": weight * float(v), "repetition_factor": rep}

    for key, value in mix.items():
        node(key, value, 1.0, 1.0)
    return flat


def olmix(doc):
    mix = flatten_mix(doc["mix"])
    for name, entry in mix.items():
        # MixEntry(weight: float, repetition_factor: float)
        if not all(isinstance(entry[f], (int, float)) for f in ("weight", "repetition_factor")):
            fail(f"{name}: weight and repetition_factor must be numbers")
        if entry["repetition_factor"] < 1:
            fail(f"{name}: repetition_factor below 1")
    return [[0, normalised({k: v["weight"] for k, v in mix.items() if v["weight"] > 0})]]


def levanter(doc):
    # levanter/data/text.py: LMMixtureDatasetConfig.__post_init__ and MixtureDataset.
    configs = doc["configs"]
    for name, c in configs.items():
        if not c.get("train_urls"):
            fail(f"{name}: no train_urls")
    weights = doc["train_weights"]
    stages = [[0, weights]] if isinstance(weights, dict) else weights
    if stages[0][0] != 0:
        fail("First stage must start at step 0")
    for (a, _), (b, _) in zip(stages, stages[1:]):
        if not b > a:
            fail("Stage start steps must be strictly increasing")
    out = []
    for step, w in stages:
        if not isinstance(step, int):
            fail(f"stage start {step!r} is not an integer step")
        if not all(name in configs for name in w):
            fail("Weight keys must be subset of config keys")
        out.append([step, normalised(w)])
    return out


def mosaic(doc):
    # streaming/base/dataset.py: proportions are relative and must be set on every stream.
    streams = doc["streams"]
    for name, s in streams.items():
        if not isinstance(s.get("remote"), str) or not s["remote"]:
            fail(f"{name}: remote must be a path")
        if s.get("proportion") is None or s["proportion"] < 0:
            fail(f"{name}: proportion must be set and non-negative")
    return [[0, normalised({k: s["proportion"] for k, s in streams.items()})]]


def doremi(doc):
    # doremi/train.py: domain_config["train_domain_weights"], normalised.
    for field in ("train_domain_weights", "eval_domain_weights"):
        if not isinstance(doc.get(field), dict):
            fail(f"{field} missing")
    return [[0, normalised({k: v for k, v in doc["train_domain_weights"].items() if v > 0})]]


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        doc = json.load(f) if fmt == "doremi" else yaml.safe_load(f)
    readers = {"olmo-core": olmo_core, "olmix": olmix, "levanter": levanter,
               "mosaic": mosaic, "doremi": doremi}
    print(json.dumps(readers[fmt](doc)))


if __name__ == "__main__":
    main()
