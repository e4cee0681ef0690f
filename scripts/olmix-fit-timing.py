#!/usr/bin/env python3
"""Times Olmix's own per-task regression fit (allenai/olmix, run from its source) on the CSVs
mixatlas uses, as a reference beside mixatlas's fit times.

    python scripts/olmix-fit-timing.py OLMIX_SRC_DIR [--synthetic DIR] [--regression log_linear]
        [--repeats N] [--large-repeats N] [--sample K] [--skip-dclm]

OLMIX_SRC_DIR is a checkout (or `git archive`) of github.com/allenai/olmix. Its imports need
torch, ai2-olmo-core (only for olmix.aliases), cvxpy, lightgbm, scikit-learn, scipy, pandas,
matplotlib, seaborn, gcsfs, s3fs, wandb, tqdm, pyyaml, pydantic. DIR is the output of
`python3 scripts/synthetic-swarm.py DIR` (DIR/runs.csv: `run`, d0..d63, t0..t104).

What is timed is exactly the loop of `olmix.fit.core.run_fit` that builds the predictors:
`build_regression(idx, Y_train, X_train, regression_type, early_stopping=0.0)` for every target
column `idx`, with Olmix's defaults (`olmix fit` passes early_stopping=0.0; the default
regression type is "log_linear": `LogLinearRegressor` -> `ScalingLaw(mixing_law).fit`, 300
random starts x 100 L-BFGS steps, Huber loss, a multiprocessing pool of min(4, cpu_count())
workers). Unlike run_fit, every task is its own target (as configs/data/olmix-dclm-tasks.toml
does): no MMLU aggregation, no task-family averaging, no caching, no proposer, no plots.
Wall clock per whole fit over all targets (time.perf_counter), plus CPU seconds of this process
and its reaped pool workers. The log-linear fit takes minutes per target on one core, so
`--sample K` fits K evenly spaced targets (each with its real column index, which Olmix's start
points depend on) and extrapolates. tqdm's bars and the per-target
"min loss" prints are silenced; Olmix's code is otherwise called unchanged.

Threads: torch, BLAS and the pool workers follow OMP_NUM_THREADS / taskset as inherited.
"""
import argparse
import contextlib
import io
import logging
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore")  # pandas fragmentation / cryptography deprecation noise
os.environ.setdefault("TQDM_DISABLE", "1")


def load_dclm(olmix_loaders, repo):
    # Olmix's own CSV loader: key `run`, drops `run`/`name`/`index`/`Unnamed: 0`, like the data spec.
    ratios, metrics, domain_cols, metric_cols = olmix_loaders.load_from_csv(
        os.path.join(repo, "datasets/olmix-dclm/dclm_ratios.csv"),
        os.path.join(repo, "datasets/olmix-dclm/dclm_metrics.csv"),
    )
    assert list(ratios["run"]) == list(metrics["run"]), "ratios and metrics rows out of order"
    return ratios[domain_cols].values, metrics[metric_cols].values, domain_cols, metric_cols


def load_synthetic(path):
    import pandas as pd

    df = pd.read_csv(os.path.join(path, "runs.csv"))
    domains = [c for c in df.columns if c.startswith("d")]
    targets = [c for c in df.columns if c.startswith("t")]
    return df[domains].values, df[targets].values, domains, targets


def cpu_seconds():
    # this process plus reaped children (the ScalingLaw pool is joined after every target)
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def fit_all(build_regression, X, Y, regression, indices):
    """run_fit's predictor loop over the target columns `indices`; wall and CPU seconds."""
    sink = io.StringIO()
    per_target, predictors = [], []
    with contextlib.redirect_stdout(sink):
        cpu0, start = cpu_seconds(), time.perf_counter()
        for idx in indices:
            t0 = time.perf_counter()
            predictors.append(build_regression(idx, Y, X, regression, 0.0))
            per_target.append(time.perf_counter() - t0)
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    return elapsed, cpu, per_target, predictors


def train_r2(predictors, X, Y, indices):
    import numpy as np

    r2 = []
    for idx, reg in zip(indices, predictors):
        y = Y[:, idx]
        p = np.asarray(reg.predict(X), dtype=float).reshape(-1)
        r2.append(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))
    return statistics.median(r2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("olmix_src")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--synthetic", help="folder written by scripts/synthetic-swarm.py")
    ap.add_argument("--regression", default="log_linear", help="an olmix REGRESSION_TYPES key")
    ap.add_argument("--repeats", type=int, default=3, help="repeats on the DCLM swarm")
    ap.add_argument("--large-repeats", type=int, default=1, help="repeats on the synthetic swarm")
    ap.add_argument(
        "--sample",
        type=int,
        default=0,
        help="fit only K evenly spaced targets (each with its real column index, as in the full fit) and "
        "extrapolate the whole-fit time as mean seconds per target x number of targets",
    )
    ap.add_argument("--skip-dclm", action="store_true")
    args = ap.parse_args()

    sys.path.insert(0, os.path.abspath(args.olmix_src))
    import torch
    from olmix.fit import loaders as olmix_loaders
    from olmix.fit.utils import build_regression

    logging.getLogger("olmix").setLevel(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)

    env = {k: os.environ.get(k, "-") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    print(f"olmix src: {os.path.abspath(args.olmix_src)}  regression: {args.regression}")
    print(
        f"torch {torch.__version__} threads={torch.get_num_threads()}  affinity={sorted(os.sched_getaffinity(0))}"
        f"  mp.cpu_count()={mp.cpu_count()} (ScalingLaw pool = min(4, that))  {env}"
    )
    print(f"load: {os.getloadavg()}")

    work = []
    if not args.skip_dclm:
        work.append(("olmix-dclm 127x24", load_dclm(olmix_loaders, args.repo), args.repeats))
    if args.synthetic:
        work.append(("synthetic 512x64", load_synthetic(args.synthetic), args.large_repeats))

    rows = []
    for name, (X, Y, domains, targets), repeats in work:
        n = len(targets)
        if 0 < args.sample < n:
            indices = sorted({round(i * (n - 1) / (args.sample - 1)) for i in range(args.sample)}) if args.sample > 1 else [0]
        else:
            indices = list(range(n))
        print(f"{name}: {X.shape[0]} runs x {X.shape[1]} domains, fitting {len(indices)} of {n} targets: {indices}")
        walls, cpus = [], []
        for r in range(repeats):
            elapsed, cpu, per_target, predictors = fit_all(build_regression, X, Y, args.regression, indices)
            walls.append(elapsed)
            cpus.append(cpu)
            pt = " ".join(f"{t:.1f}" for t in per_target)
            print(
                f"  repeat {r + 1}/{repeats}: {elapsed:.2f} s wall, {cpu:.2f} s CPU; per target [{pt}]"
                f"  (load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        r2 = train_r2(predictors, X, Y, indices)
        rows.append((name, X.shape[0], X.shape[1], n, len(indices), repeats, walls, cpus, r2))

    print()
    print(
        f"{'dataset':<18} {'runs':>4} {'dom':>3} {'tgts':>4} {'fit':>4} {'reps':>4} {'best s':>8} {'med s':>8}"
        f" {'s/tgt':>7} {'CPU s/tgt':>9} {'all tgts s':>10} {'med R2':>6}"
    )
    for name, nr, d, n, k, reps, walls, cpus, r2 in rows:
        best, med = min(walls), statistics.median(walls)
        whole = f"{best:.1f}" if k == n else f"~{best / k * n:.0f}"
        print(
            f"{name:<18} {nr:>4} {d:>3} {n:>4} {k:>4} {reps:>4} {best:>8.2f} {med:>8.2f} {best / k:>7.2f}"
            f" {min(cpus) / k:>9.2f} {whole:>10} {r2:>6.3f}"
        )
    print("(all tgts s: measured when every target was fit, else best s / fitted x targets, marked ~)")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
