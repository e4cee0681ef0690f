#!/usr/bin/env python3
"""Times `Model.predict` from Python on 10^5 rows with the model the criterion bench
`score/flex/predict, fused/100000` times (8 members, 2 x 128 SiLU, sqrt-linear inputs, 2
full-batch steps, RegMix's 17 domains): their ratio is what the binding adds. Run from the
repository root with the package installed; the median of 30 calls is printed."""
import time
import numpy as np
import mixatlas

runs = mixatlas.Runs.from_csv("configs/data/regmix-1m-train.toml")
config = ('batch_size = 0\nvalidation_fraction = 0.0\nbootstrap = false\nmax_epochs = 2\n'
          'patience = 2\ninput_transform = { kind = "sqrt-linear" }\n')
model = mixatlas.fit(runs, "ensemble", config=config, seed=0, progress=False)
rng = np.random.default_rng(0)
W = rng.dirichlet(np.full(17, 0.5), size=100_000)
model.predict(W[:1000])
ts = []
for _ in range(30):
    t = time.perf_counter()
    model.predict(W)
    ts.append(time.perf_counter() - t)
ts.sort()
print(f"python predict 1e5 rows: median {ts[15]*1e3:.1f} ms, min {ts[0]*1e3:.1f} ms, {1e5/ts[15]:.0f} rows/s")
