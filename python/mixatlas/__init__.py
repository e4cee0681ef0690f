"""mixatlas in Python: learn data mixture -> outcome from logged proxy runs, with the model's
uncertainty, and read its checkpoints. numpy in and out; pandas where a table is natural.

    import mixatlas
    runs = mixatlas.Runs.from_csv("configs/data/regmix-1m-train.toml")
    model = mixatlas.fit(runs, surrogate="gp", seed=0)
    mean, std = model.predict(runs.mixtures[:5])        # [5, targets] each
    model.save("out/gp")                               # what `mixatlas train` writes
    same = mixatlas.load("out/gp")                      # any checkpoint the CLI wrote

    found = model.simulate(samples=100_000)            # as `mixatlas simulate`
    mixatlas.backtest(runs, "configs/backtests/strategies.toml", "out/bt")

Errors are `mixatlas.MixatlasError`, with the message the CLI prints. Fitting, prediction,
simulation and backtests release the GIL and show tqdm progress bars when tqdm is installed
(`progress=False` silences them). The same seed gives the same model as `mixatlas train
--seed`.
"""

from ._mixatlas import MixatlasError, Model, Proposer, Runs, backtest, fit, load

__all__ = ["MixatlasError", "Model", "Proposer", "Runs", "backtest", "fit", "load"]
