#!/usr/bin/env python3
"""Loads a `mixatlas export` output with its training stack's own library and prints the token
shares that stack trains on, as JSON `[[first_step, {domain: share}], ...]`. Nothing here
re-implements a consumer: a stack that refuses the file raises its own error (exit non-zero).

    scripts/check-export.py olmo-core FILE --tokens N     # olmo-core builds the mixture
    scripts/check-export.py olmix FILE                    # Olmix's flatten_mix + MixEntry
    scripts/check-export.py mosaic FILE --lengths TOML    # StreamingDataset samples an epoch
    scripts/check-export.py hf FILE --lengths TOML --domains a,b   # datasets.interleave_datasets samples
    scripts/check-export.py megatron FILE                 # Megatron-core parses the blend
    scripts/check-export.py levanter FILE                 # YAML schema (see below)
    scripts/check-export.py doremi FILE                   # JSON schema (see below)

- olmo-core (ai2-olmo-core): `SourceMixtureList.from_dict`, `validate`, then
  `SourceMixtureDatasetConfig.build` over the `.npy` token files the paths name (the caller
  writes them); the shares are the tokens olmo-core selected per source.
- Olmix: its `olmix/aliases.py` (vendored under tests/vendor/olmix, since Olmix is not on the
  package index): `flatten_mix`, then `MixEntry` per leaf, as `LaunchConfig` validates `mix`.
- MosaicML streaming: each stream's `remote` directory gets MDS shards (written with
  `MDSWriter`) of examples of the table's length, unless it has an index already; then
  `StreamingDataset(streams=[Stream(remote=..., proportion=...)])` samples one epoch, and the
  shares are the tokens of the examples it yields.
- Hugging Face: one `Dataset` per domain of examples of the table's length, mixed by
  `interleave_datasets(probabilities=...)` (the export's list, in domain order); the shares
  are the tokens of the first 200,000 examples.
- Megatron-core: `get_blend_from_list` on the blend's words, then `normalize`.
- Levanter and DoReMi are checked against their schemas only: Levanter needs JAX, and DoReMi
  is a research repository without a package.
"""
import argparse
import json
import os
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def shares(tokens):
    total = sum(tokens.values())
    if not total > 0:
        fail(f"no tokens: {tokens}")
    return {k: v / total for k, v in tokens.items() if v > 0}


def lengths_table(path):
    if path is None:
        fail("this format needs --lengths TOML (domain = tokens per example)")
    import tomllib

    with open(path, "rb") as f:
        return {k: int(round(float(v))) for k, v in tomllib.load(f).items()}


def olmo_core(path, args):
    import numpy as np
    from olmo_core.data.source_mixture import SourceMixtureDatasetConfig, SourceMixtureList

    with open(path) as f:
        doc = yaml.safe_load(f)
    sources = SourceMixtureList.from_dict(doc["source_list"])
    sources.validate()
    for s in sources.sources:
        s.validate()
    if args.tokens is None:
        fail("olmo-core: --tokens N (the requested tokens) is needed to build the mixture")
    sequence_length = args.sequence_length
    config = SourceMixtureDatasetConfig(
        source_list=sources,
        requested_tokens=args.tokens,
        global_batch_size=sequence_length * 4,
        render_tables=False,
        quiet=True,
    )
    mixture = config.build(npdtype=np.uint32, sequence_length=sequence_length)
    tokens = {s.name: sum(p.tokens for p in s.path_tokens) for s in mixture.sources}
    return [[0, shares(tokens)]]


def olmix(path, args):
    sys.path.insert(0, os.path.join(REPO, "tests", "vendor", "olmix"))
    from olmix.aliases import MixEntry, flatten_mix

    with open(path) as f:
        doc = yaml.safe_load(f)
    mix = {name: MixEntry(**entry) for name, entry in flatten_mix(doc["mix"]).items()}
    for name, entry in mix.items():
        if entry.repetition_factor < 1:
            fail(f"{name}: repetition_factor {entry.repetition_factor} below 1")
    return [[0, shares({k: e.weight for k, e in mix.items()})]]


def mosaic(path, args):
    import numpy as np
    from streaming import MDSWriter, Stream, StreamingDataset

    lengths = lengths_table(args.lengths)
    with open(path) as f:
        doc = yaml.safe_load(f)
    streams = []
    for name, entry in doc["streams"].items():
        remote = entry["remote"]
        if not os.path.exists(os.path.join(remote, "index.json")):
            n = max(200, 400_000 // lengths[name])
            with MDSWriter(out=remote, columns={"domain": "str", "tokens": "int"}) as out:
                for _ in range(n):
                    out.write({"domain": name, "tokens": lengths[name]})
        streams.append(Stream(**entry))
    cache = tempfile.mkdtemp(prefix="mds-cache-")
    data = StreamingDataset(streams=[
        Stream(remote=s.remote, local=os.path.join(cache, str(i)), proportion=s.proportion)
        for i, s in enumerate(streams)
    ], shuffle=True, shuffle_seed=0, batch_size=1)
    tokens = {}
    for sample in data:
        tokens[sample["domain"]] = tokens.get(sample["domain"], 0) + int(np.int64(sample["tokens"]))
    return [[0, shares(tokens)]]


def hf(path, args):
    from datasets import Dataset, interleave_datasets

    lengths = lengths_table(args.lengths)
    if not args.domains:
        fail("hf: --domains a,b,... (the recipe's domains, in order) is needed")
    domains = args.domains.split(",")
    with open(path) as f:
        probabilities = json.load(f)
    if len(probabilities) != len(domains):
        fail(f"{len(probabilities)} probabilities for {len(domains)} domains")
    n = 200_000
    parts = [Dataset.from_dict({"domain": [d] * n, "tokens": [lengths.get(d, 1)] * n})
             for d in domains]
    mixed = interleave_datasets(parts, probabilities=probabilities, seed=0,
                                stopping_strategy="first_exhausted")
    tokens = {}
    for row in mixed.select(range(n)):
        tokens[row["domain"]] = tokens.get(row["domain"], 0) + row["tokens"]
    return [[0, shares(tokens)]]


def megatron(path, args):
    from megatron.core.datasets.utils import get_blend_from_list, normalize

    with open(path) as f:
        words = f.read().split()
    prefixes, weights = get_blend_from_list(words)
    if weights is None:
        fail("the blend has no weights")
    return [[0, dict(zip(prefixes, normalize(weights)))]]


def levanter(path, args):
    # levanter/data/text.py: LMMixtureDatasetConfig.__post_init__ and MixtureDataset.
    with open(path) as f:
        doc = yaml.safe_load(f)
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
        out.append([step, shares(w)])
    return out


def doremi(path, args):
    # doremi/train.py: domain_config["train_domain_weights"], normalised.
    with open(path) as f:
        doc = json.load(f)
    for field in ("train_domain_weights", "eval_domain_weights"):
        if not isinstance(doc.get(field), dict):
            fail(f"{field} missing")
    return [[0, shares(doc["train_domain_weights"])]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("format", choices=["olmo-core", "olmix", "mosaic", "hf", "megatron",
                                           "levanter", "doremi"])
    parser.add_argument("file")
    parser.add_argument("--tokens", type=int, help="olmo-core: requested tokens")
    parser.add_argument("--sequence-length", type=int, default=64, help="olmo-core")
    parser.add_argument("--lengths", help="mosaic, hf: TOML domain = tokens per example")
    parser.add_argument("--domains", help="hf: the recipe's domains, in order, comma-separated")
    args = parser.parse_args()
    readers = {"olmo-core": olmo_core, "olmix": olmix, "mosaic": mosaic, "hf": hf,
               "megatron": megatron, "levanter": levanter, "doremi": doremi}
    print(json.dumps(readers[args.format](args.file, args)))


if __name__ == "__main__":
    main()
