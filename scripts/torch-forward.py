#!/usr/bin/env python3
# PyTorch forward-only reference: the ensemble mixatlas scores
# (8 members, 34 -> 128 -> 128 -> 1, SiLU), on pre-built features, one thread.
import time, torch
torch.set_num_threads(1)
M, H, D = 8, 128, 34
def p(*s): return torch.randn(*s) * (1 / s[-2]) ** 0.5
ps = [p(M, D, H), torch.zeros(M, 1, H), p(M, H, H), torch.zeros(M, 1, H), p(M, H, 1), torch.zeros(M, 1, 1)]
def fwd(x):
    h = torch.nn.functional.silu(x @ ps[0] + ps[1])
    h = torch.nn.functional.silu(torch.baddbmm(ps[3], h, ps[2]))
    return torch.baddbmm(ps[5], h, ps[4])
for n in [10_000, 1_000_000]:
    x = torch.rand(n, D)
    with torch.no_grad():
        fwd(x[:8192])
        t = time.perf_counter()
        for s in range(0, n, 8192):
            fwd(x[s:s + 8192])
        e = time.perf_counter() - t
    print(f"torch forward {n}: {n / e:,.0f} rows/s")
