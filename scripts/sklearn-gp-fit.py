"""Times scikit-learn's ARD GP fit on the workloads of `cargo bench --bench gp`, one thread.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/sklearn-gp-fit.py   # pip: numpy scikit-learn

Workloads (identical data to benches/gp.rs): the first 410 RegMix 1M training runs (17 domains)
and 410 synthetic runs over 64 domains from an integer generator both sides share. The model is
the anchors' reference: ConstantKernel * Matern(ARD, nu=2.5) + WhiteKernel on sqrt(w),
normalize_y, one optimiser start (scikit-learn's default).
"""
import csv, time, warnings
import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
warnings.filterwarnings('ignore')


def lcg(i, j):
    return ((i * 1103515245 + j * 12345 + 7) % 2147483648) / 2147483648.0


def synthetic(n, d):
    w = np.array([[lcg(i, j) ** 3 for j in range(d)] for i in range(n)])
    w /= w.sum(1, keepdims=True)
    c = np.array([np.cos(j) for j in range(d)])
    y = np.sqrt(w) @ c + 0.5 * (w[:, 0] - w[:, 1]) ** 2 + 0.01 * np.array([lcg(i, 999) - 0.5 for i in range(n)])
    return w, y


def regmix(n):
    m = list(csv.reader(open('datasets/regmix/train_mixture_1m.csv')))
    l = list(csv.reader(open('datasets/regmix/train_pile_loss_1m.csv')))
    j = l[0].index('metric/the_pile_pile_cc_val_loss')
    loss = {r[0]: float(r[j]) for r in l[1:]}
    rows = m[1:n + 1]
    return np.array([[float(v) for v in r[1:]] for r in rows]), np.array([loss[r[0]] for r in rows])


for name, (x, y) in [('410 x 17 (RegMix)', regmix(410)), ('410 x 64 (synthetic)', synthetic(410, 64))]:
    k = ConstantKernel() * Matern(length_scale=np.ones(x.shape[1]), nu=2.5) + WhiteKernel()
    start = time.time()
    GaussianProcessRegressor(k, normalize_y=True, random_state=0).fit(np.sqrt(x), y)
    print(f'scikit-learn ARD GP fit {name}: {time.time() - start:.1f} s', flush=True)
