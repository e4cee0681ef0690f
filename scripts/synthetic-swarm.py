#!/usr/bin/env python3
"""A synthetic swarm at the scale teams log: 512 runs x 64 domains x 105 targets.

Sparse Dirichlet mixtures; each target a different smooth function of the same 8 latent
directions in sqrt(weight) space (so the targets are correlated, as benchmark scores are),
plus noise of sd 0.02. Writes DIR/runs.csv, DIR/space.toml and DIR/data.toml (a data spec
naming every target, lower is better), seeded, standard library only:

    python3 scripts/synthetic-swarm.py out/swarm [RUNS DOMAINS TARGETS]
    mixatlas train --data out/swarm/data.toml --surrogate gp --config configs/surrogates/gp-shared.toml --out out/swarm-gp
"""
import math
import random
import sys
from pathlib import Path


def main():
    out = Path(sys.argv[1])
    n, d, t = (int(v) for v in (sys.argv[2:5] if len(sys.argv) >= 5 else (512, 64, 105)))
    rng = random.Random(1)
    directions = [[rng.gauss(0, 1) for _ in range(d)] for _ in range(8)]
    out.mkdir(parents=True, exist_ok=True)
    domains = [f"d{j}" for j in range(d)]
    targets = [f"t{k}" for k in range(t)]
    with open(out / "runs.csv", "w") as f:
        f.write(",".join(["run"] + domains + targets) + "\n")
        for i in range(n):
            g = [rng.gammavariate(0.3, 1) for _ in range(d)]
            w = [x / sum(g) for x in g]
            latent = [sum(math.sqrt(w[j]) * u[j] for j in range(d)) for u in directions]
            ys = []
            for k in range(t):
                a = [math.sin(0.7 * k + b) for b in range(8)]
                y = 3 + 0.3 * sum(a[b] * latent[b] for b in range(8)) / 8
                ys.append(y + 0.05 * math.sin(latent[k % 8]) + rng.gauss(0, 0.02))
            f.write(",".join([f"r{i}"] + [f"{x:.6g}" for x in w + ys]) + "\n")
    (out / "space.toml").write_text(
        'name = "synthetic"\n' + "".join(f'\n[[domains]]\nname = "{x}"\n' for x in domains)
    )
    spec = ['space = "space.toml"', 'mixtures = "runs.csv"', 'key = "run"', ""]
    for name in targets:
        spec += ["[[targets]]", f'name = "{name}"', 'direction = "lower"', ""]
    (out / "data.toml").write_text("\n".join(spec))


if __name__ == "__main__":
    main()
