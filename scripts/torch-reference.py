#!/usr/bin/env python3
"""PyTorch's implementation of the two jobs docs/figures.md times mixatlas on, for whole-process
timing side by side (pip: torch; it runs on the CPU).

  python3 scripts/torch-reference.py train datasets/regmix   # 8-member 2x128 SiLU ensemble, sqrt-linear inputs, 500 full-batch AdamW steps, 512 RegMix runs
  python3 scripts/torch-reference.py score N                 # N Dirichlet(0.5) mixtures of 17 domains scored, top 10 by mean - 2 std

One thread (torch.set_num_threads(1)) unless TORCH_THREADS is set."""
import os, sys, csv, time
import torch
torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '1')))
M, H, D = 8, 128, 17

def ens(din, dout):
    def p(*s): return torch.nn.Parameter(torch.randn(*s) * (1 / s[-2]) ** 0.5)
    return [p(M, din, H), torch.nn.Parameter(torch.zeros(M, 1, H)), p(M, H, H), torch.nn.Parameter(torch.zeros(M, 1, H)),
            p(M, H, dout), torch.nn.Parameter(torch.zeros(M, 1, dout))]

def fwd(ps, x):  # x [M, n, din] or [n, din]
    h = torch.nn.functional.silu(torch.baddbmm(ps[1], x, ps[0]) if x.dim() == 3 else x @ ps[0] + ps[1])
    h = torch.nn.functional.silu(torch.baddbmm(ps[3], h, ps[2]))
    return torch.baddbmm(ps[5], h, ps[4])

def feats(w): return torch.cat([w.sqrt(), w], -1)

if sys.argv[1] == 'train':
    d = sys.argv[2]
    rm = list(csv.reader(open(d + '/train_mixture_1m.csv'))); rl = list(csv.reader(open(d + '/train_pile_loss_1m.csv')))
    j = rl[0].index('metric/the_pile_pile_cc_val_loss'); lm = {r[0]: float(r[j]) for r in rl[1:]}
    X = feats(torch.tensor([[float(v) for v in r[1:]] for r in rm[1:]]))
    y = torch.tensor([[lm[r[0]]] for r in rm[1:]])
    X = (X - X.mean(0)) / (X.std(0) + 1e-8); y = (y - y.mean()) / y.std()
    torch.manual_seed(0); ps = ens(X.shape[1], 1)
    opt = torch.optim.AdamW(ps, lr=3e-3, weight_decay=1.0)
    Xb = X.unsqueeze(0).expand(M, -1, -1)
    for step in range(500):
        opt.zero_grad(); loss = ((fwd(ps, Xb) - y) ** 2).mean(); loss.backward(); opt.step()
    print(f'final loss {loss.item():.4f}')
else:
    n = int(sys.argv[2]); torch.manual_seed(0); ps = ens(2 * D, 1)
    best = []
    with torch.no_grad():
        for s in range(0, n, 8192):
            k = min(8192, n - s)
            w = torch.distributions.Dirichlet(torch.full((D,), 0.5)).sample((k,))
            out = fwd(ps, feats(w).unsqueeze(0).expand(M, -1, -1))[..., 0]
            mu, sd = out.mean(0), out.std(0)
            best.append(torch.topk(mu - 2 * sd, 10).values)
    print('best', torch.cat(best).max().item())
