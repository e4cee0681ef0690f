#!/usr/bin/env python3
"""Reference surrogates on the shipped data, for side-by-side comparison with mixatlas
(docs/figures.md writes its reference table from this script's output).

  python3 scripts/reference-accuracy.py    # from the repository root; pip: numpy scipy scikit-learn

Prints Spearman (and 90% coverage where the model gives a std) for:
  - ARD Matern-5/2 GP on sqrt(weights) (scikit-learn);
  - the log-linear mixing law y = exp(c) + exp(w . t) (Data Mixing Laws / Olmix default), Huber fit.
Tasks: RegMix Pile-CC fit 512 @1M -> 256 unseen @1M, the same model -> rank of the 64 runs @1B,
Olmix DCLM mean of 110 BPB 5-fold out-of-fold (KFold(5, shuffle=True, random_state=SEED)).
"""
import csv, os, sys, time, warnings
import numpy as np
from scipy.optimize import least_squares
from scipy.stats import spearmanr
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.model_selection import KFold
warnings.filterwarnings('ignore')
D = os.environ.get('DATASETS', 'datasets')

def rows(path):
    r = list(csv.reader(open(path, newline='')))
    return r[0], r[1:]

def regmix(split, size):
    hm, m = rows(f'{D}/regmix/{split}_mixture_{size}.csv'); hl, l = rows(f'{D}/regmix/{split}_pile_loss_{size}.csv')
    j = hl.index('metric/the_pile_pile_cc_val_loss'); lm = {r[0]: float(r[j]) for r in l}
    return np.array([[float(v) for v in r[1:]] for r in m]), np.array([lm[r[0]] for r in m])

def olmix():
    hr, r = rows(f'{D}/olmix-dclm/dclm_ratios.csv'); hm, m = rows(f'{D}/olmix-dclm/dclm_metrics.csv')
    skip = {'', 'run', 'name', 'index'}
    dc = [i for i, h in enumerate(hr) if h not in skip]; mc = [i for i, h in enumerate(hm) if h not in skip]
    mm = {row[hm.index('run')]: row for row in m}
    X = np.array([[float(row[i]) for i in dc] for row in r]); X /= X.sum(1, keepdims=True)
    y = np.array([np.mean([float(mm[row[hr.index('run')]][i]) for i in mc]) for row in r])
    return X, y

class GP:
    def fit(self, X, y):
        k = ConstantKernel() * Matern(length_scale=np.ones(X.shape[1]), nu=2.5) + WhiteKernel()
        self.m = GaussianProcessRegressor(k, normalize_y=True, random_state=0).fit(np.sqrt(X), y); return self
    def predict(self, X):
        return self.m.predict(np.sqrt(X), return_std=True)

class LogLinear:
    def fit(self, X, y):
        best = None
        for c0 in np.linspace(np.log(max(y.min() * 0.5, 1e-3)), np.log(y.min() * 0.99), 4):
            p0 = np.r_[c0, np.zeros(X.shape[1]) + np.log(max(y.mean() - np.exp(c0), 1e-3))]
            r = least_squares(lambda p: np.exp(p[0]) + np.exp(X @ p[1:]) - y, p0, loss='huber', f_scale=0.02)
            if best is None or r.cost < best.cost: best = r
        self.p = best.x; return self
    def predict(self, X):
        return np.exp(self.p[0]) + np.exp(X @ self.p[1:]), None

def cov90(m, s, y):
    return '' if s is None else f'  cov90 {np.mean(np.abs(m - y) <= 1.645 * s):.3f}'

if __name__ == '__main__':
    Xtr, ytr = regmix('train', '1m'); Xte, yte = regmix('test', '1m'); X1b, y1b = regmix('test', '1B')
    Xo, yo = olmix()
    for name, Model in [('ARD GP on sqrt(w)', GP), ('log-linear mixing law', LogLinear)]:
        t = time.time(); model = Model().fit(Xtr, ytr); fit_s = time.time() - t
        m, s = model.predict(Xte)
        print(f'{name:24s} RegMix 1M->1M spearman {spearmanr(m, yte)[0]:.4f}{cov90(m, s, yte)}  (fit {fit_s:.1f} s)')
        print(f'{name:24s} RegMix 1M->1B rank     {spearmanr(model.predict(X1b)[0], y1b)[0]:.4f}')
        for seed in (0, 1):
            p = np.zeros_like(yo); sd = np.zeros_like(yo)
            for tr, te in KFold(5, shuffle=True, random_state=seed).split(Xo):
                p[te], s_ = Model().fit(Xo[tr], yo[tr]).predict(Xo[te])
                sd[te] = s_ if s_ is not None else np.nan
            print(f'{name:24s} Olmix DCLM OOF seed {seed} spearman {spearmanr(p, yo)[0]:.4f}'
                  f'{cov90(p, None if np.isnan(sd).any() else sd, yo)}')
