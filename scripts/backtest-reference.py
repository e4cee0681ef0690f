#!/usr/bin/env python3
"""Reference strategies for `mixatlas backtest`, on the same seeds and initial runs.

    python3 scripts/backtest-reference.py regmix out/backtest-regmix
    python3 scripts/backtest-reference.py olmix out/backtest-olmix

Reads a mixatlas backtest directory (its config and, per seed, the 16 initial runs every
strategy shared: the first runs of `seeds/random/<seed>.json`), replays two reference strategies
a team would otherwise use, with the same pool, rounds and budget, and prints the table with the
measures of `mixatlas::backtest::summary` (runs to the top 1% and 5% of the pool, regret at the
configured budgets):

- `sklearn-gp-lcb-kb`: the MixAtlas paper's loop with scikit-learn, an ARD Matern-5/2 GP on
  sqrt(weights), lower confidence bound on the loss with
  beta 4, batches by kriging believer (the GP, kernel fixed, refitted on its own mean at each
  pick);
- `lightgbm-greedy`: RegMix's regressor (LightGBM), the 8 lowest predicted losses per round.

Needs numpy, scikit-learn and lightgbm. The pool rows must be in mixatlas's order (the mixture
file's): the script checks that its random-strategy regrets equal mixatlas's.
"""
import csv
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent / "datasets"


def rows(path):
    r = list(csv.reader(open(path, newline="")))
    return r[0], r[1:]


def regmix():
    hm, m = rows(ROOT / "regmix/train_mixture_1m.csv")
    hl, l = rows(ROOT / "regmix/train_pile_loss_1m.csv")
    j = hl.index("metric/the_pile_pile_cc_val_loss")
    loss = {r[0]: float(r[j]) for r in l}
    X = np.array([[float(v) for v in r[1:]] for r in m])
    return X / X.sum(1, keepdims=True), np.array([loss[r[0]] for r in m])


def olmix():
    hr, r = rows(ROOT / "olmix-dclm/dclm_ratios.csv")
    hm, m = rows(ROOT / "olmix-dclm/dclm_metrics.csv")
    skip = {"", "run", "name", "index"}
    dc = [i for i, h in enumerate(hr) if h not in skip]
    mc = [i for i, h in enumerate(hm) if h not in skip]
    by_run = {row[hm.index("run")]: row for row in m}
    X = np.array([[float(row[i]) for i in dc] for row in r])
    y = np.array([np.mean([float(by_run[row[hr.index("run")]][i]) for i in mc]) for row in r])
    return X / X.sum(1, keepdims=True), y


def gp_lcb_kb(X, y, seen, q):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    k = ConstantKernel() * Matern(length_scale=np.ones(X.shape[1]), nu=2.5) + WhiteKernel()
    gp = GaussianProcessRegressor(k, normalize_y=True, random_state=0)
    gp.fit(np.sqrt(X[seen]), y[seen])
    open_ = [i for i in range(len(y)) if i not in set(seen)]
    xs, ys, picks = list(np.sqrt(X[seen])), list(y[seen]), []
    for _ in range(q):
        mean, std = gp.predict(np.sqrt(X[open_]), return_std=True)
        k_best = int(np.argmin(mean - 2.0 * std))
        pick = open_.pop(k_best)
        picks.append(pick)
        xs.append(np.sqrt(X[pick]))
        ys.append(mean[k_best])
        believer = GaussianProcessRegressor(gp.kernel_, normalize_y=True, optimizer=None)
        gp = believer.fit(np.array(xs), np.array(ys))
    return picks


def lightgbm_greedy(X, y, seen, q):
    import lightgbm as lgb

    model = lgb.LGBMRegressor(
        n_estimators=1000, learning_rate=0.01, min_child_samples=2, verbose=-1, random_state=0
    )
    model.fit(X[seen], y[seen])
    open_ = np.array([i for i in range(len(y)) if i not in set(seen)])
    return list(open_[np.argsort(model.predict(X[open_]))[:q]])


def replay(strategy, X, y, initial, batch, budget):
    seen = list(initial)
    while len(seen) < budget:
        seen += strategy(X, y, seen, min(batch, budget - len(seen)))
    return seen


def quantile(v, p):
    v = sorted(v)
    h = (len(v) - 1) * p
    lo = math.floor(h)
    if h == lo or lo + 1 >= len(v):
        return v[lo]
    return math.inf if math.isinf(v[lo + 1]) else v[lo] + (h - lo) * (v[lo + 1] - v[lo])


def main():
    data, out = sys.argv[1], Path(sys.argv[2])
    X, y = {"regmix": regmix, "olmix": olmix}[data]()
    c = json.loads((out / "backtest-input.json").read_text())["config"]
    initial, batch, budget, seeds = c["initial"], c["batch"], c["budget"], c["seeds"]
    ends = list(range(initial, budget, batch)) + [budget]
    best = y.min()
    order = np.sort(y)

    def measures(revealed):
        firsts = {}
        for p in c["top"]:
            threshold = order[max(math.ceil(p * len(y)), 1) - 1]
            k = next((n for n, i in enumerate(revealed) if y[i] <= threshold), None)
            firsts[p] = math.inf if k is None else next(e for e in ends if e > k)
        regret = {b: min(y[revealed[:b]]) - best for b in c["regret_at"]}
        return firsts, regret

    random_runs = {s: json.loads((out / f"seeds/random/{s}.json").read_text())["revealed"] for s in range(seeds)}
    mixatlas_csv = {(r["strategy"], int(r["seed"])): r for r in csv.DictReader(open(out / "backtest.csv"))}
    for s, revealed in random_runs.items():
        for b, r in measures(revealed)[1].items():
            theirs = float(mixatlas_csv[("random", s)][f"regret_at_{b}"])
            assert abs(r - theirs) < 1e-6, f"pool order differs from mixatlas's: seed {s}, {r} vs {theirs}"
    head = ["strategy"] + [f"runs to top-{p * 100:g}%" for p in c["top"]]
    head += [f"regret@{b} median (mean)" for b in c["regret_at"]]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, strategy in [("sklearn-gp-lcb-kb", gp_lcb_kb), ("lightgbm-greedy", lightgbm_greedy)]:
        results = [measures(replay(strategy, X, y, random_runs[s][:initial], batch, budget)) for s in range(seeds)]
        cells = [name]
        for p in c["top"]:
            v = [r[0][p] for r in results]
            fmt = lambda x: f"{x:.0f}" if math.isfinite(x) else f">{budget}"
            cells.append(f"{fmt(quantile(v, 0.5))} [{fmt(quantile(v, 0.25))}-{fmt(quantile(v, 0.75))}]")
        for b in c["regret_at"]:
            v = [r[1][b] for r in results]
            cells.append(f"{quantile(v, 0.5):.4f} ({np.mean(v):.4f})")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
