#!/usr/bin/env python3
"""Did a campaign's surrogate rounds beat its initial random design?

For each campaign directory given: every target standardised over all the campaign's runs
and averaged with equal weights (the campaign's default objective, all targets "higher"),
then, in stage 0, the best of the initial random runs against the best of the surrogate
rounds. Prints one line per campaign and the mean difference with wins/losses.

    python3 scripts/campaign-rounds.py out/camp-0 out/camp-1 ...
"""
import csv
import json
import statistics
import sys
import tomllib
from pathlib import Path


def stage0(campaign: Path):
    config = tomllib.loads((campaign / "campaign.toml").read_text())
    initial = config.get("initial_runs", 16)
    targets = [t["name"] for t in config["targets"]]
    signs = [1.0 if t["direction"] == "higher" else -1.0 for t in config["targets"]]
    stage = {}
    order = []
    for line in (campaign / "journal.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "proposed":
            for run in event["runs"]:
                stage[run["id"]] = run["stage"]
                order.append(run["id"])
    outcomes = {}
    for results in sorted((campaign / "rounds").glob("*/results.csv")):
        with open(results) as f:
            for row in csv.DictReader(f):
                outcomes[row["run_id"]] = [float(row[t]) for t in targets]
    ids = [i for i in order if i in outcomes]
    cols = list(zip(*(outcomes[i] for i in ids)))
    mean = [statistics.fmean(c) for c in cols]
    sd = [statistics.pstdev(c) or 1.0 for c in cols]
    value = {
        i: statistics.fmean(s * (y - m) / d for s, y, m, d in zip(signs, outcomes[i], mean, sd))
        for i in ids
    }
    first = [i for i in ids if stage[i] == 0]
    return max(value[i] for i in first[:initial]), max(value[i] for i in first[initial:])


def main():
    gaps = []
    for d in sys.argv[1:]:
        init, surr = stage0(Path(d))
        gaps.append(surr - init)
        print(f"{d}: stage 0 best initial {init:.4f}, best surrogate round {surr:.4f}, gap {surr - init:+.4f}")
    wins = sum(g > 0 for g in gaps)
    print(
        f"{len(gaps)} campaigns: surrogate rounds beat the initial design in {wins}, "
        f"mean gap {statistics.fmean(gaps):+.4f} (median {statistics.median(gaps):+.4f}) "
        "objective units (mean z-score over targets)"
    )


if __name__ == "__main__":
    main()
