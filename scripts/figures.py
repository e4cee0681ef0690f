#!/usr/bin/env python3
"""Writes the measured figures into the README and the guide, or checks that they are current.

Each figure block on a page sits between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->`,
right after the fenced `sh` block that produces it. This script runs that `sh` block verbatim
(with `mixatlas` on PATH: the release binary) in a scratch directory that links the shipped
`configs/`, `datasets/`, `examples/` and `scripts/`, then renders the block from the files the
commands wrote. So the commands a page shows are the commands that made its numbers.

    python3 scripts/figures.py write [NAME ...]   # rerun and rewrite the blocks (default: all)
    python3 scripts/figures.py check [NAME ...]   # rerun and fail if a page differs
    python3 scripts/figures.py list               # the blocks, their pages and cost

`check` ignores wall-clock times (they differ run to run); every other number must match. The
`speed-*` blocks run `cargo bench` in the repository root (criterion's estimates go to the
scratch directory) and are nothing but times, so only `write` is useful for them.
Needs `cargo build --release` first (or `MIXATLAS_BIN`, the binary to run); the slow test tier
runs `check` on the quick blocks.
"""
import csv
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("MIXATLAS_BIN", ROOT / "target" / "release" / "mixatlas"))
WRITING = False
SHIPPED = ["configs", "datasets", "examples", "scripts"]


def read_json(path):
    return json.loads(Path(path).read_text())


def column(path, name):
    with open(path) as f:
        return [float(r[name]) for r in csv.DictReader(f)]


def keyed(path, key, name):
    with open(path) as f:
        return {r[key]: float(r[name]) for r in csv.DictReader(f)}


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- renderers, one per block


def quickstart(out, output):
    """The README quickstart: what it prints, and what the evaluation says."""
    lines = [l for l in output.splitlines() if l.strip()]
    first = next(i for i, l in enumerate(lines) if l.startswith("proposal-01"))
    shown = lines[: first + 2] + ["..."] + [l for l in lines if l.startswith("wrote ")]
    metrics = next(l.split() for l in lines if l.startswith("pile_cc_loss "))
    spearman, cov90 = float(metrics[6]), float(metrics[9])
    return (
        "It prints (seed 0):\n\n```\n" + "\n".join(shown) + "\n```\n\n"
        f"The predictor ranks the 256 unseen mixtures with a Spearman correlation of "
        f"{spearman:.3f}, and its 90% intervals cover {100 * cov90:.0f}% of them."
    )


KINDS = ["ensemble", "gp", "loglinear", "auto"]


def accuracy(out, output):
    def metric(path, name):
        return read_json(path)[0][name]

    chosen = {k: read_json(out / f"{k}-train.json")["surrogate"] for k in KINDS}

    def cells(values, fmt, higher=True):
        best = max(values.values()) if higher else min(values.values())
        row = []
        for k in KINDS:
            text = fmt(values[k])
            if values[k] == best and k != "auto":
                text = f"**{text}**"
            if k == "auto":
                text += f" ({chosen[k]})"
            row.append(text)
        return row

    olmix = {seed: read_json(out / f"olmix-{seed}.json") for seed in (0, 1)}

    def oof(kind, seed, name):
        doc = olmix[seed]
        if kind == "auto":
            kind = doc["chosen"]
        return next(c for c in doc["candidates"] if c["surrogate"] == kind)["metrics"][0][name]

    rows = [
        ["RegMix Pile-CC loss: fit 512 @1M, Spearman on 256 unseen @1M"]
        + cells({k: metric(out / f"{k}-1m.json", "spearman") for k in KINDS}, "{:.4f}".format),
        ["RegMix: same model, rank Spearman on 64 runs @1B"]
        + cells({k: metric(out / f"{k}-1b.json", "spearman") for k in KINDS}, "{:.3f}".format),
        ["RegMix 1M test: coverage of the 90% interval"]
        + [f"{metric(out / f'{k}-1m.json', 'coverage90'):.3f}" for k in KINDS],
    ]
    for name, label, fmt in [
        ("spearman", "Olmix DCLM, mean of 110 BPB metrics, 5-fold out-of-fold Spearman", "{:.3f}"),
        ("coverage90", "Olmix out-of-fold coverage of the 90% interval", "{:.3f}"),
    ]:
        row = [f"{label}, fold seed 0 / 1"]
        for k in KINDS:
            text = " / ".join(fmt.format(oof(k, s, name)) for s in (0, 1))
            row.append(text + (f" ({olmix[0]['chosen']})" if k == "auto" else ""))
        rows.append(row)
    epistemic = read_json(out / "ensemble-train.json")["epistemic_scale"]
    return (
        table(["task", "ensemble", "`gp`", "`loglinear`", "`auto`"], rows)
        + f"\n\nThe ensemble's epistemic scale (the multiplier `train` prints on the member "
        f"spread) is x{epistemic[0]:.2f} on the 512 RegMix runs."
    )


def early_stopped(out, output):
    def m(path, name="spearman"):
        return read_json(path)[0][name]

    def olmix(path):
        return read_json(path)[0]["spearman"]

    rows = [
        [
            "Olmix 5-fold out-of-fold Spearman, fold seed 0 / 1",
            f"{olmix(out / 'olmix-default-0.json'):.3f} / {olmix(out / 'olmix-default-1.json'):.3f}",
            f"{olmix(out / 'olmix-es-0.json'):.3f} / {olmix(out / 'olmix-es-1.json'):.3f}",
        ],
        [
            "RegMix 1M -> 1M Spearman (90% coverage)",
            f"{m(out / 'default-1m.json'):.4f} ({m(out / 'default-1m.json', 'coverage90'):.3f})",
            f"{m(out / 'es-1m.json'):.4f} ({m(out / 'es-1m.json', 'coverage90'):.3f})",
        ],
        [
            "RegMix 1M -> 1B Spearman",
            f"{m(out / 'default-1b.json'):.3f}",
            f"{m(out / 'es-1b.json'):.3f}",
        ],
    ]
    return table(["task", "defaults", "`early-stopped.toml`"], rows)


def many_targets(out, output):
    rows = []
    for name, label in [
        ("gp", "`gp`, one GP per target"),
        ("gp-shared", "`gp` with `share_kernel = true`"),
        ("loglinear", "`loglinear`"),
        ("ensemble", "ensemble (one network, a head per target)"),
    ]:
        metrics = read_json(out / f"{name}.json")
        rho = sorted(m["spearman"] for m in metrics)
        cover = sorted(m["coverage90"] for m in metrics)
        rows.append([
            label,
            str(len(metrics)),
            f"{statistics.median(rho):.3f}",
            f"{rho[0]:.3f}",
            f"{statistics.median(cover):.3f}",
        ])
    auto = read_json(out / "auto.json")
    # The candidates as compared: on `compared_on` when not on every target.
    compared = []
    for c in auto["candidates"]:
        ms = c["metrics"]
        compared.append([
            c["surrogate"],
            f"{statistics.fmean(m['spearman'] for m in ms):.4f}",
            f"{statistics.median(m['spearman'] for m in ms):.4f}",
            f"{statistics.fmean(m['nll'] for m in ms):.3f}",
        ])
    names = auto["candidates"][0]["metrics"]
    total = len(auto.get("chosen_on_every_target", names))
    return (
        table(["surrogate", "targets", "median Spearman", "worst Spearman", "median 90% coverage"], rows)
        + f"\n\n`--surrogate auto` compares the candidates on {len(names)} of the {total} targets "
        + f"and chooses `{auto['chosen']}` (first row):\n\n"
        + table(["candidate", "mean Spearman over the compared targets", "median", "mean NLL"], compared)
    )


def ensemble_heads(out, output):
    heads = {m["target"]: m for m in read_json(out / "heads.json")}
    alone = {}
    for path in out.glob("one-*.json"):
        (m,) = read_json(path)
        alone[m["target"]] = m
    assert set(alone) == set(heads), "one evaluation per task"
    rows = []
    for label, ms in [("one network, a head per task", heads), ("one ensemble per task", alone)]:
        rho = sorted(m["spearman"] for m in ms.values())
        cover = sorted(m["coverage90"] for m in ms.values())
        rows.append([
            label,
            f"{statistics.median(rho):.3f}",
            f"{statistics.fmean(rho):.3f}",
            f"{rho[0]:.3f}",
            f"{statistics.median(cover):.3f}",
        ])
    better = sum(alone[t]["spearman"] > heads[t]["spearman"] for t in heads)
    return (
        table(["ensemble", "median Spearman", "mean", "worst", "median 90% coverage"], rows)
        + f"\n\nOne ensemble per task ranks better on {better} of the {len(heads)} tasks."
    )


def proposals(out, output):
    sim = read_json(out / "simulate.json")["simulation"]["top_acquisition"][0]
    loss = "metric/the_pile_pile_cc_val_loss"
    best_logged = min(column(ROOT / "datasets/regmix/train_pile_loss_1m.csv", loss))
    pick = read_json(out / "pick/proposals.json")["proposals"][0]["pool_key"]
    truth = keyed(ROOT / "datasets/regmix/test_pile_loss_1m.csv", "index", loss)
    rank = 1 + sum(v < truth[pick] for v in truth.values())
    return (
        f"- The best of 10^6 simulated recipes has a predicted Pile-CC loss of "
        f"{sim['targets'][0]:.3f} ± {sim['epistemic_std']:.3f} (epistemic std of the objective), "
        f"against {best_logged:.3f} for the best logged run.\n"
        f"- Pool mode over the {len(truth)} unseen test mixtures picks run {pick}, whose true loss "
        f"ranks {rank} of {len(truth)}."
    )


def report(out, output):
    """The report's partial-dependence figure, copied into the guide, and its summary."""
    svg = (out / "report" / "figures" / "partial_dependence.svg").read_bytes()
    if WRITING:
        (ROOT / "docs" / "regmix-partial-dependence.svg").write_bytes(svg)
    html = (out / "report" / "report.html").read_text()
    summary = re.findall(r"<li>(.*?)</li>", html)
    first = [s for s in summary if not s.startswith("<b>")][:3]
    digest = hashlib.sha256(svg).hexdigest()[:16]
    return (
        "The summary of that page begins:\n\n"
        + "\n".join(f"- {html_text(s)}" for s in first)
        + "\n\nIts partial-dependence figure: how the predicted Pile-CC loss moves as each "
        "domain's share moves away from the average logged mixture.\n\n"
        f"![Partial dependence of the Pile-CC loss on each domain's share]"
        f"(regmix-partial-dependence.svg)\n<!-- svg sha256 {digest} -->"
    )


def html_text(s):
    return re.sub(r"<[^>]+>", "", s).replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", '"')


def backtest(out, output):
    dirs = sorted(p for p in out.iterdir() if (p / "backtest.md").is_file())
    assert len(dirs) == 1, dirs
    text = (dirs[0] / "backtest.md").read_text()
    rows = [l for l in text.splitlines() if l.startswith("|")]
    return "\n".join(rows)


def aggregate_vs_tasks(out, output):
    rows = []
    for folder, label in [("bt-aggregate", "the aggregate"), ("bt-tasks", "each task")]:
        lines = [l for l in (out / folder / "backtest.md").read_text().splitlines()
                 if l.startswith("|")]
        header = "| modelled | " + lines[0][2:]
        rows += [f"| {label} | " + l[2:] for l in lines[2:]]
    return "\n".join([header, "|" + "---|" * (header.count("|") - 1)] + rows)


CAMPAIGN_VARIANTS = {
    "shipped": "as shipped: the defaults plus `[strategy.trust_region]`",
    "no-trust-region": "the defaults alone (delete `[strategy.trust_region]`)",
    "gp-ucb4": '`surrogate = "gp"`, `acquisition = "ucb"`, `beta = 4.0`, no trust region',
    "ensemble-ucb4": '`acquisition = "ucb"`, `beta = 4.0`, no trust region',
}


def campaign_seeds(out, output):
    rows = []
    pattern = re.compile(
        r"^variant (\S+): (\d+) campaigns: surrogate rounds beat the initial design in (\d+), "
        r"mean gap ([+-][0-9.]+) \(median ([+-][0-9.]+)\)"
    )
    for line in output.splitlines():
        m = pattern.match(line)
        if m:
            name, n, won, mean, median = m.groups()
            rows.append([CAMPAIGN_VARIANTS[name], f"{won} of {n}", f"{mean} ({median})"])
    assert len(rows) == len(CAMPAIGN_VARIANTS), output[-2000:]
    return table(["`[strategy]`", "surrogate rounds better", "mean gap (median)"], rows)


def bench_strategies(out, output):
    text = (out / "strategies" / "strategies.md").read_text()
    rows = [l for l in text.splitlines() if l.startswith("|")]
    with open(out / "strategies" / "strategies.csv") as f:
        shares = {}
        for r in csv.DictReader(f):
            shares.setdefault(r["strategy"], []).append(float(r["data_share"]))
    ranked = sorted((statistics.fmean(v), k) for k, v in shares.items() if k != "soup")
    order = ", ".join(f"{name} {100 * share:.0f}%" for share, name in ranked)
    notes = [l for l in text.splitlines() if l and not l.startswith("|")]
    return (
        "\n".join(rows)
        + "\n\n"
        + " ".join(notes)
        + f"\n\nData to match the soup, least first: {order}."
    )


def tiny_lm(out, output):
    (path,) = out.glob("*/summary.json")
    summary = read_json(path)
    names = ["soup", "best_random", "mixatlas"]
    rows = []
    for r in summary["seeds"]:
        mix = r["weights"]["mixatlas"]
        top = sorted(mix, key=mix.get, reverse=True)
        recipe = ", ".join(f"{d} {mix[d]:.2f}" for d in top if mix[d] >= 0.005)
        rows.append([str(r["seed"])] + [f"{r[n]:.4f}" for n in names] + [recipe])
    rows.append(["mean"] + [f"**{summary[n]:.4f}**" for n in names] + [""])
    n = len(summary["seeds"])
    return (
        table(["seed", "uniform soup", "best random run", "mixatlas", "mixatlas's recipe"], rows)
        + f"\n\nTarget loss in nats per token after {summary['tokens_per_run']:,} training tokens, "
        f"each mixture retrained at {len(summary['seeds'][0]['eval_seeds'])} seeds the campaign "
        f"never used. mixatlas beats the soup in {summary['mixatlas_beats_soup']} of {n} seeds and "
        f"the best random run in {summary['mixatlas_beats_best_random']} of {n}."
    )


def reference_accuracy(out, output):
    """The reference surrogates' table from scripts/reference-accuracy.py's output."""
    gp, law = "ARD GP on sqrt(w)", "log-linear mixing law"

    def value(name, what):
        return printed(output, "^" + re.escape(name) + r"\s+" + re.escape(what) + r"\s+(-?\d+\.\d+)")

    def cov(name, what):
        return printed(output, "^" + re.escape(name) + r"\s+" + re.escape(what) + r"[^\n]*cov90 (\d+\.\d+)")

    def seeds(name, fmt):
        return " / ".join(fmt(name, s) for s in (0, 1))

    spearman = lambda n, s: f"{value(n, f'Olmix DCLM OOF seed {s} spearman'):.3f}"
    coverage = lambda n, s: f"{cov(n, f'Olmix DCLM OOF seed {s}'):.3f}"
    rows = [
        ["RegMix 1M -> 1M Spearman"] + [f"{value(n, 'RegMix 1M->1M spearman'):.4f}" for n in (gp, law)],
        ["RegMix 1M -> 1B rank Spearman"] + [f"{value(n, 'RegMix 1M->1B rank'):.3f}" for n in (gp, law)],
        ["RegMix 1M test: coverage of the 90% interval", f"{cov(gp, 'RegMix 1M->1M'):.3f}", ""],
        ["Olmix 5-fold out-of-fold Spearman, fold seed 0 / 1", seeds(gp, spearman), seeds(law, spearman)],
        ["Olmix out-of-fold coverage of the 90% interval, fold seed 0 / 1", seeds(gp, coverage), ""],
    ]
    return table(["task", "scikit-learn ARD GP", "log-linear (Huber)"], rows)


def backtest_reference(out, output):
    """The reference strategies' rows from scripts/backtest-reference.py's two tables."""
    def parse(path):
        lines = [l.strip("| \n").split(" | ") for l in path.read_text().splitlines() if l.startswith("| ")]
        head, rows = lines[0], lines[1:]
        return {r[0]: dict(zip(head, r)) for r in rows}

    regmix, olmix = parse(out / "reference-regmix.md"), parse(out / "reference-olmix.md")
    labels = {
        "sklearn-gp-lcb-kb": "scikit-learn's GaussianProcessRegressor (ARD Matérn-5/2 on `sqrt(w)`), LCB beta 4, kriging believer (MixAtlas-style)",
        "lightgbm-greedy": "LightGBM, greedy (RegMix)",
    }
    rows = [
        [label]
        + [r[name][k] for r in (regmix, olmix) for k in ("runs to top-1%", "regret@32 median (mean)")]
        for name, label in labels.items()
    ]
    head = ["reference", "RegMix: runs to top-1%", "RegMix: regret@32 median (mean)",
            "Olmix: runs to top-1%", "Olmix: regret@32 median (mean)"]
    return table(head, rows)


# ---------------------------------------------------------------- speed blocks
# Their commands run `cargo bench` in the repository root; criterion writes its estimates under
# CRITERION_HOME (the block's scratch `out/criterion`), saved as baselines `t1` and `t2` (one
# and two threads), and reference scripts print their own timings.


def medians(out):
    """Criterion's median (seconds) per (benchmark id, saved baseline)."""
    found = {}
    for est in (out / "criterion").glob("**/estimates.json"):
        meta = est.parent / "benchmark.json"
        if est.parent.name in ("new", "base", "change") or not meta.is_file():
            continue
        found[(read_json(meta)["full_id"], est.parent.name)] = (
            read_json(est)["median"]["point_estimate"] / 1e9
        )
    return found


def printed(output, pattern):
    """The float the reference script printed on the line matching `pattern` (a regex with one
    group)."""
    match = re.search(pattern, output, re.M)
    if not match:
        sys.exit(f"no line matches {pattern!r} in the output:\n{output[-2000:]}")
    return float(match.group(1).replace(",", ""))


def secs(v):
    return f"{v:.2f} s" if v < 10 else f"{v:.1f} s"


def rows_per_s(rows, seconds):
    return f"{rows / seconds:,.0f} rows/s"


def speed_gp(out, output):
    m = medians(out)
    rows = []
    for name in ["410 x 17 (RegMix)", "410 x 64 (synthetic)"]:
        t1, t2 = m[(f"gp_fit/{name}", "t1")], m[(f"gp_fit/{name}", "t2")]
        sk = printed(output, rf"^scikit-learn ARD GP fit {re.escape(name)}: ([\d.]+) s")
        rows.append([name, f"{secs(t1)} ({sk / t1:.1f}x faster)", f"{secs(t2)} ({sk / t2:.1f}x)", secs(sk)])
    return table(["workload", "mixatlas, 1 thread", "mixatlas, 2 threads", "scikit-learn, 1 thread"], rows)


MANY = [
    ("gp independent", "`gp`, one GP per target (targets in parallel)"),
    ("gp shared kernel", "`gp`, `share_kernel = true` (one Cholesky for all targets)"),
    ("loglinear", "`loglinear` (targets in parallel)"),
    ("ensemble", "ensemble (one network, a head per target)"),
]


def speed_many_targets(out, output):
    m = medians(out)
    rows = [
        [label, secs(m[(f"many_targets/{k}", "t1")]), secs(m[(f"many_targets/{k}", "t2")])]
        for k, label in MANY
    ]
    return table(["surrogate", "1 thread", "2 threads"], rows)


def speed_at_scale(out, output):
    m = medians(out)
    rows = [[label, secs(m[(f"many_targets_at_scale/{k}", "t2")])] for k, label in MANY]
    return table(["surrogate", "2 threads"], rows)


def speed_auto(out, output):
    m = medians(out)
    rows = [
        [label, secs(m[(f"auto/{swarm}/train", "t2")]), secs(m[(f"auto/{swarm}/evaluate 5 folds", "t2")])]
        for swarm, label in [("dclm", "Olmix DCLM, 127 x 24 x 110"), ("at scale", "synthetic, 512 x 64 x 105")]
    ]
    return table(["swarm", "`train --surrogate auto`", "`evaluate --folds 5 --surrogate auto`"], rows)


def speed_scoring(out, output):
    m = medians(out)
    peak = m[("peak/fma", "t1")]
    rate = {n: printed(output, rf"^torch forward {n}: ([\d,]+) rows/s") for n in (10_000, 1_000_000)}
    spec = [
        ("score, fused forward, 10^4 rows", "fused forward/10000", 10_000, 10_000),
        ("score, fused forward, 10^6 rows", "fused forward/1000000", 1_000_000, 1_000_000),
        ("score, `predict` end to end (transform, stats), 10^5 rows", "predict, fused/100000", 100_000, 1_000_000),
        ("score, burn batched forward (flex), 10^4 rows", "burn forward/10000", 10_000, 10_000),
    ]
    rows = []
    for label, bench_id, n, ref in spec:
        t1, t2 = m[(f"score/flex/{bench_id}", "t1")], m[(f"score/flex/{bench_id}", "t2")]
        ratio = (n / t1) / rate[ref]
        rows.append([label, rows_per_s(n, t1), rows_per_s(n, t2), f"{ratio:.2f}x" if ratio < 1 else f"{ratio:.1f}x faster"])
    return (
        f"PyTorch's forward pass, one thread: {rate[10_000]:,.0f} rows/s (10^4 rows) and "
        f"{rate[1_000_000]:,.0f} rows/s (10^6). The FMA peak (`peak/fma`): "
        f"{PEAK_FLOP / peak / 1e9:.1f} GFLOP/s on one core.\n\n"
        + table(["workload", "1 thread", "2 threads", "vs PyTorch (1 thread)"], rows)
    )


# `peak/fma` runs 2^20 iterations of twelve 8-lane FMA chains (benches/predictor.rs): FLOP.
PEAK_FLOP = (1 << 20) * 12 * 8 * 2


def speed_simulate(out, output):
    m = medians(out)
    n = 1 << 18
    flop = 333_824
    peak = PEAK_FLOP / m[("peak/fma", "t1")] / flop
    ids = [
        ("GEMM floor (`gemm bound`)", "gemm bound"),
        ("raw fused forward", "raw fused forward"),
        ("sampling + constraint repair only", "sampling + repair only"),
        ("`simulate` end to end", "simulate, ucb, top 10"),
    ]
    rows = [["the FMA peak (`peak/fma`, 333,824 FLOP a row)", f"{peak:,.0f} rows/s", ""]]
    for label, bench_id in ids:
        t1, t2 = m[(f"simulate/{bench_id}/{n}", "t1")], m[(f"simulate/{bench_id}/{n}", "t2")]
        # Sampling does none of the network's FLOPs; the GEMM-only bench is sequential.
        share = "" if bench_id.startswith("sampling") else f" ({n / t1 / peak:.0%} of the peak)"
        two = "" if bench_id == "gemm bound" else f"{rows_per_s(n, t2)} ({t1 / t2:.2f}x)"
        rows.append([label, rows_per_s(n, t1) + share, two])
    return table(["2^18 rows", "1 thread", "2 threads (speed-up)"], rows) + (
        "\n\nThe GEMM floor is one thread (the bench calls gemm sequentially); sampling does none "
        "of the network's FLOPs, so it has no share of the peak."
    )


STEPS = "train/flex/100 full-batch steps, 512 x 34, 8 x (128,128)"


def speed_training(out, output):
    m = medians(out)
    ids = [
        ("100 steps, fused CPU trainer (default on CPU)", f"{STEPS}, fused"),
        ("100 steps, burn autodiff (`TrainEngine::Burn`)", f"{STEPS}, burn"),
        ("the GEMMs alone of the same 100 steps", "train/flex/gemm bound of the same 100 steps"),
    ]
    # The GEMM-only bench is sequential: its one-thread figure is the floor for both columns.
    rows = [
        [label, f"{m[(i, 't1')] * 1000:,.0f} ms", "" if "gemm" in i else f"{m[(i, 't2')] * 1000:,.0f} ms"]
        for label, i in ids
    ]
    at_peak = 47.7e9 / (PEAK_FLOP / m[("peak/fma", "t1")])
    rows.append(["the same 47.7 GFLOP at the FMA peak (`peak/fma`)", f"{at_peak * 1000:,.0f} ms", ""])
    mixatlas = printed(output, r"^mixatlas train 500 steps: ([\d.]+) s")
    torch = printed(output, r"^torch train 500 steps: ([\d.]+) s")
    rows.append(["500 steps, whole process: `mixatlas train`", secs(mixatlas), ""])
    rows.append(["500 steps, whole process: PyTorch (`scripts/torch-reference.py`)", secs(torch), ""])
    bound = torch / (5 * at_peak)
    return table(["workload", "1 thread", "2 threads"], rows) + (
        f"\n\nOn one core mixatlas's whole process trains {torch / mixatlas:.1f}x faster than "
        f"PyTorch's. At the FMA peak, with nothing but the GEMMs' multiply-adds, 500 steps would "
        f"take {5 * at_peak:.2f} s: no fp32 implementation can beat PyTorch's whole process by more "
        f"than {bound:.1f}x on the core measured."
    )


# ---------------------------------------------------------------- the blocks

# name: (page, renderer, minutes on two cores, quick: checked by the slow test tier)
BLOCKS = {
    "quickstart": ("README.md", quickstart, 0.3, True),
    "accuracy": ("docs/figures.md", accuracy, 2.5, True),
    "reference-accuracy": ("docs/figures.md", reference_accuracy, 1.5, False),
    "early-stopped": ("docs/figures.md", early_stopped, 1.0, True),
    "proposals": ("docs/figures.md", proposals, 0.5, True),
    "many-targets": ("docs/figures.md", many_targets, 5.0, False),
    "ensemble-heads": ("docs/figures.md", ensemble_heads, 4.5, False),
    "report": ("docs/reports.md", report, 0.5, True),
    "backtest-regmix": ("docs/strategies.md", backtest, 3.0, False),
    "backtest-olmix": ("docs/strategies.md", backtest, 2.0, False),
    "campaign-seeds": ("docs/strategies.md", campaign_seeds, 2.0, False),
    "bench-strategies": ("docs/strategies.md", bench_strategies, 1.5, False),
    "backtest-reference": ("docs/strategies.md", backtest_reference, 15.0, False),
    "aggregate-vs-tasks": ("docs/strategies.md", aggregate_vs_tasks, 6.0, False),
    "variance-vs-mean": ("docs/strategies.md", backtest, 2.0, False),
    "tiny-lm": ("docs/figures.md", tiny_lm, 6.0, False),
    "tiny-lm-full": ("docs/figures.md", tiny_lm, 20.0, False),
    "speed-gp": ("docs/figures.md", speed_gp, 2.0, False),
    "speed-many-targets": ("docs/figures.md", speed_many_targets, 5.0, False),
    "speed-at-scale": ("docs/figures.md", speed_at_scale, 25.0, False),
    "speed-auto": ("docs/figures.md", speed_auto, 25.0, False),
    "speed-scoring": ("docs/figures.md", speed_scoring, 6.0, False),
    "speed-training": ("docs/figures.md", speed_training, 4.0, False),
    "speed-simulate": ("docs/figures.md", speed_simulate, 4.0, False),
}

# Blocks whose commands run in the repository root (`cargo bench`), not in a scratch copy.
IN_REPO = {name for name in BLOCKS if name.startswith("speed-")}

# Wall-clock figures: masked when checking.
TIMES = [
    re.compile(r"\b\d+(\.\d+)? s\b"),
    re.compile(r"\b\d+\.\d+ ± \d+\.\d+ \|$", re.M),  # search cost (s), last column
    re.compile(r"\| \d+\.\d\d \|$", re.M),  # s/round, last column
]


def masked(text):
    for pattern in TIMES:
        text = pattern.sub("<time>", text)
    return text


def locate(page_text, name):
    begin, end = f"<!-- figures:{name} -->", f"<!-- /figures:{name} -->"
    start = page_text.index(begin)
    stop = page_text.index(end, start)
    fence = page_text.rfind("```sh\n", 0, start)
    script_end = page_text.index("```", fence + 6)
    if fence < 0 or page_text[script_end + 3 : start].strip():
        sys.exit(f"figures:{name}: the block must follow the sh block that produces it")
    return page_text[fence + 6 : script_end], start + len(begin), stop


def script_of(sh):
    # The README's quickstart runs through cargo; the tests are not part of its figures.
    lines = []
    for line in sh.splitlines():
        if line.strip().startswith("cargo test"):
            continue
        lines.append(line.replace("cargo run --release --", "mixatlas"))
    return "\n".join(lines) + "\n"


def run(name):
    page, render, _, _ = BLOCKS[name]
    text = (ROOT / page).read_text()
    sh, start, stop = locate(text, name)
    with tempfile.TemporaryDirectory(prefix=f"figures-{name}-") as scratch:
        scratch = Path(scratch)
        for shipped in SHIPPED:
            (scratch / shipped).symlink_to(ROOT / shipped)
        (scratch / "out").mkdir()
        bindir = scratch / ".bin"
        bindir.mkdir()
        (bindir / "mixatlas").symlink_to(BINARY)
        env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
        # Benches build and run in the repository; only criterion's estimates go to scratch.
        env["CRITERION_HOME"] = str(scratch / "out" / "criterion")
        done = subprocess.run(
            ["sh", "-e", "-c", script_of(sh)],
            cwd=ROOT if name in IN_REPO else scratch,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if done.returncode != 0:
            sys.exit(f"{page}: the commands of figures:{name} failed:\n{done.stdout[-3000:]}")
        block = render(scratch / "out", done.stdout)
    return page, text, start, stop, "\n" + block.strip() + "\n"


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("write", "check", "list"):
        sys.exit(__doc__)
    global WRITING
    mode, names = sys.argv[1], sys.argv[2:]
    WRITING = mode == "write"
    if mode == "list":
        for name, (page, _, minutes, quick) in BLOCKS.items():
            tier = "checked by the slow tier" if quick else "written on demand"
            print(f"{name:18} {page:20} ~{minutes} min  {tier}")
        return
    if not BINARY.is_file():
        sys.exit(f"{BINARY} is missing: run `cargo build --release` first")
    unknown = [n for n in names if n not in BLOCKS]
    if unknown:
        sys.exit(f"unknown figure blocks {unknown}; known: {list(BLOCKS)}")
    names = names or list(BLOCKS)
    stale = []
    for name in names:
        page, text, start, stop, block = run(name)
        current = (ROOT / page).read_text()  # an earlier block may have rewritten the page
        if mode == "write":
            _, start, stop = locate(current, name)
            (ROOT / page).write_text(current[:start] + block + current[stop:])
            print(f"{page}: figures:{name} written")
        elif masked(text[start:stop]) != masked(block):
            stale.append(name)
            print(f"{page}: figures:{name} differs from a rerun; now:\n{block}", file=sys.stderr)
        else:
            print(f"{page}: figures:{name} current")
    if stale:
        sys.exit(f"stale figures: {stale} (python3 scripts/figures.py write {' '.join(stale)})")


if __name__ == "__main__":
    main()
