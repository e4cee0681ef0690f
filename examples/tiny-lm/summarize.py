"""Retrains three mixtures of each finished campaign at fresh training seeds and compares them:
the uniform soup, the best run of the campaign's random initial design, and mixatlas's final
recommendation (the stage committed in `final.json`). Writes `summary.json` and `summary.svg`.

    python3 summarize.py --out out/tiny-lm --seeds 0 1 2 --initial-runs 8 --steps 150

Selecting the best of many noisy runs favours lucky ones, so the runs' own losses are not
compared: every contender is trained again, at the same budget, with seeds the campaign never
used (`1000 + seed` and up), and its target loss averaged over them.
"""
import argparse
import csv
import json
import os

import tinylm

EVAL_SEED = 1000


def journal(path):
    """The events of a campaign's journal (JSON Lines)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def contenders(campaign, initial_runs):
    """`{name: weights}` for one campaign, and the losses it measured `{run_id: loss}`."""
    design, losses = [], {}
    for event in journal(os.path.join(campaign, "journal.jsonl")):
        # The campaign draws random rounds while it has fewer results than `initial_runs`.
        if event["event"] == "proposed" and len(losses) < initial_runs:
            design += event["runs"]
        elif event["event"] == "results":
            losses.update({r["id"]: r["outcomes"][0] for r in event["results"]})
    as_dict = lambda w: dict(zip(tinylm.DOMAINS, w))  # noqa: E731 (space order = DOMAINS)
    design = [r for r in design if r["id"] in losses]
    best_random = min(design, key=lambda r: losses[r["id"]])
    with open(os.path.join(campaign, "final.json")) as f:
        final = json.load(f)["stages"][-1]
    return {
        "soup": {d: 1 / len(tinylm.DOMAINS) for d in tinylm.DOMAINS},
        "best_random": as_dict(best_random["weights"]),
        "mixatlas": {d: float(final["weights"][d]) for d in tinylm.DOMAINS},
    }, {"best_random": best_random["id"], "mixatlas": final["run"], "runs": len(losses),
        "best_measured": min(losses.values())}


def retrain(name, weights, seeds, steps, work):
    """Mean target loss of `weights` trained at each of `seeds`."""
    losses = []
    for seed in seeds:
        results = os.path.join(work, f"{name}-{seed}.csv")
        if os.path.exists(results):  # written by an earlier, interrupted call
            os.remove(results)
        tinylm.train(name, weights, seed, steps, results, work)
        with open(results) as f:
            losses.append(float(list(csv.DictReader(f))[0]["target_loss"]))
    return sum(losses) / len(losses)


def figure(rows, path):
    """A grouped bar chart (SVG): target loss per seed for each contender."""
    names, colors = ["soup", "best_random", "mixatlas"], ["#9e9e9e", "#5b8def", "#e4572e"]
    values = [r[n] for r in rows for n in names]
    low, high = min(values) * 0.98, max(values) * 1.01
    width, height, left, bottom = 120 + 150 * len(rows), 300, 60, 250
    y = lambda v: bottom - (v - low) / (high - low) * 200  # noqa: E731
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="20">target loss (nats/token) after the same token budget; '
           'lower is better</text>',
           f'<line x1="{left}" y1="{bottom}" x2="{width - 20}" y2="{bottom}" stroke="black"/>']
    for tick in range(5):
        v = low + (high - low) * tick / 4
        svg.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>')
    for i, row in enumerate(rows):
        x0 = left + 20 + 150 * i
        for j, (n, c) in enumerate(zip(names, colors)):
            top = y(row[n])
            svg.append(f'<rect x="{x0 + 40 * j}" y="{top:.1f}" width="34" '
                       f'height="{bottom - top:.1f}" fill="{c}"/>')
        svg.append(f'<text x="{x0 + 55}" y="{bottom + 18}" text-anchor="middle">'
                   f'seed {row["seed"]}</text>')
    for j, (n, c) in enumerate(zip(names, colors)):
        svg.append(f'<rect x="{left + 130 * j}" y="{height - 22}" width="12" height="12" '
                   f'fill="{c}"/><text x="{left + 16 + 130 * j}" y="{height - 12}">{n}</text>')
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="run.sh's output folder (seed-<s>/campaign)")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--initial-runs", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--eval-seeds", type=int, default=2, help="retraining seeds per contender")
    a = parser.parse_args()
    rows = []
    for seed in a.seeds:
        campaign = os.path.join(a.out, f"seed-{seed}", "campaign")
        mixes, info = contenders(campaign, a.initial_runs)
        seeds = [EVAL_SEED + 10 * seed + k for k in range(a.eval_seeds)]
        work = os.path.join(a.out, f"seed-{seed}", "retrain")
        os.makedirs(work, exist_ok=True)
        row = {"seed": seed, "eval_seeds": seeds, **info, "weights": mixes}
        row.update({n: retrain(n, w, seeds, a.steps, work) for n, w in mixes.items()})
        rows.append(row)
    names = ["soup", "best_random", "mixatlas"]
    summary = {n: sum(r[n] for r in rows) / len(rows) for n in names}
    summary["seeds"] = rows
    summary["mixatlas_beats_soup"] = sum(r["mixatlas"] < r["soup"] for r in rows)
    summary["mixatlas_beats_best_random"] = sum(r["mixatlas"] < r["best_random"] for r in rows)
    summary["steps"], summary["tokens_per_run"] = a.steps, a.steps * tinylm.BATCH * tinylm.SEQ
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    figure(rows, os.path.join(a.out, "summary.svg"))
    for r in rows:
        print(f"seed {r['seed']}: soup {r['soup']:.4f}  best_random {r['best_random']:.4f}  "
              f"mixatlas {r['mixatlas']:.4f}")
    print(f"mean:   soup {summary['soup']:.4f}  best_random {summary['best_random']:.4f}  "
          f"mixatlas {summary['mixatlas']:.4f}")


if __name__ == "__main__":
    main()
