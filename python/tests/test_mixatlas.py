"""Tests of the Python package against the CLI on the shipped data. Run after
`pip install ./python`, from the repository root, with the CLI built:

    MIXATLAS_BIN=target/release/mixatlas python python/tests/test_mixatlas.py

Each test is a function; the script runs them all and exits non-zero on the first failure.
"""
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np

import mixatlas

BIN = os.environ.get("MIXATLAS_BIN", "target/release/mixatlas")
TRAIN = "configs/data/regmix-1m-train.toml"
TEST = "configs/data/regmix-1m-test.toml"
QUICK = "members = 2\nmax_epochs = 30\n"


def cli(*args):
    out = subprocess.run([BIN, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def cli_predictions(checkpoint, mixtures_csv, directory):
    path = os.path.join(directory, os.path.basename(checkpoint) + "-pred.csv")
    cli("predict", "--checkpoint", checkpoint, "--input", mixtures_csv, "--output", path)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return rows


def test_load_predicts_what_the_cli_predicts_for_every_surrogate():
    runs = mixatlas.Runs.from_csv(TRAIN)
    test = mixatlas.Runs.from_csv(TEST)
    assert len(runs) > 100 and runs.mixtures.shape == (len(runs), len(runs.domains))
    with tempfile.TemporaryDirectory() as d:
        # The test mixtures as a CSV with the checkpoint's column names.
        mixtures_csv = os.path.join(d, "mixtures.csv")
        with open(mixtures_csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run"] + ["train_the_pile_" + x for x in test.domains])
            for key, row in zip(test.keys, test.mixtures):
                w.writerow([key] + [repr(float(x)) for x in row])
        for surrogate, extra in [("gp", []), ("loglinear", []), ("ensemble", ["--config", "q.toml"])]:
            if extra:
                with open(os.path.join(d, "q.toml"), "w") as f:
                    f.write(QUICK)
                extra = ["--config", os.path.join(d, "q.toml")]
            ck = os.path.join(d, f"cli-{surrogate}")
            cli("train", "--data", TRAIN, "--surrogate", surrogate, "--seed", "3", "--out", ck, *extra)
            model = mixatlas.load(ck)
            assert model.kind == surrogate, model.kind
            post = model.posterior(test.mixtures)
            rows = cli_predictions(ck, mixtures_csv, d)
            target = model.targets[0]
            for i, row in enumerate(rows):
                for field, ours in [("mean", post["mean"]), ("epistemic_std", post["epistemic_std"]),
                                    ("aleatoric_std", post["aleatoric_std"]), ("total_std", post["std"])]:
                    theirs = float(row[f"{target}_{field}"])
                    assert abs(ours[i, 0] - theirs) <= 1e-6 * max(1.0, abs(theirs)), (surrogate, field, i, ours[i, 0], theirs)
            # The same seed gives the same model as the CLI.
            config = QUICK if surrogate == "ensemble" else None
            ours = mixatlas.fit(runs, surrogate=surrogate, config=config, seed=3)
            mean, std = ours.predict(test.mixtures)
            assert mean.shape == (len(test), 1) and std.shape == (len(test), 1)
            np.testing.assert_allclose(mean, post["mean"], rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(std, post["std"], rtol=1e-6, atol=1e-9)
            # Model.save writes what the CLI reads.
            saved = os.path.join(d, f"py-{surrogate}")
            ours.save(saved)
            rows = cli_predictions(saved, mixtures_csv, d)
            got = np.array([float(r[f"{target}_mean"]) for r in rows])
            np.testing.assert_allclose(got, mean[:, 0], rtol=1e-6)


def test_runs_from_pandas_and_arrays_fit_and_refuse_bad_input():
    try:
        import pandas as pd
    except ImportError:
        if os.environ.get("CI"):
            raise
        print("pandas missing: from_pandas not checked")
        return
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), size=40)
    y = 2.0 - w[:, 0] + 0.5 * w[:, 1] ** 2 + rng.normal(0, 0.01, size=40)
    df = pd.DataFrame({"run": [f"r{i}" for i in range(40)], "web": w[:, 0], "code": w[:, 1],
                       "math": w[:, 2], "loss": y})
    runs = mixatlas.Runs.from_pandas(df, mixture=["web", "code", "math"], targets=[("loss", "lower")], key="run")
    assert runs.keys[:2] == ["r0", "r1"] and runs.domains == ["web", "code", "math"]
    np.testing.assert_allclose(runs.outcomes[:, 0], y)
    model = mixatlas.fit(runs, surrogate="gp", seed=0)
    mean, std = model.predict(w[:5])
    assert np.all(np.abs(mean[:, 0] - y[:5]) < 0.05) and np.all(std > 0)
    # Bad input: a MixatlasError naming what is wrong, never a crash.
    bad = df.copy()
    bad.loc[3, "web"] = 0.9
    for call, needle in [
        (lambda: mixatlas.Runs.from_pandas(bad, mixture=["web", "code", "math"], targets=[("loss", "lower")], key="run"),
         "run `r3` (row 3): mixture weights must be >= 0 and sum to 1"),
        (lambda: mixatlas.Runs.from_pandas(df, mixture=["web", "code", "math"], targets=[("loss", "sideways")]),
         "direction `sideways`"),
        (lambda: mixatlas.fit(runs, surrogate="forest"), "surrogate `forest`"),
        (lambda: mixatlas.fit(runs, surrogate="gp", config="restarts = 4\n"), "unknown field `restarts`"),
        (lambda: model.predict(w[:, :2]), "expected 3 columns"),
        (lambda: mixatlas.load("no/such/checkpoint"), "no/such/checkpoint"),
        (lambda: mixatlas.Runs.from_csv("no-such.csv", targets=[("loss", "lower")]), "no-such.csv"),
    ]:
        try:
            call()
        except mixatlas.MixatlasError as e:
            assert needle in str(e), (needle, str(e))
        else:
            raise AssertionError(f"no error; expected {needle!r}")
    # A checkpoint is never written over something mixatlas did not create.
    with tempfile.TemporaryDirectory() as d:
        mine = os.path.join(d, "notes.txt")
        with open(mine, "w") as f:
            f.write("mine")
        try:
            model.save(d, overwrite=True)
        except mixatlas.MixatlasError:
            pass
        with open(mine) as f:
            assert f.read() == "mine"


def test_the_proposer_asks_for_spaced_feasible_mixtures():
    runs = mixatlas.Runs.from_csv(TRAIN)
    first = mixatlas.Runs.from_arrays(runs.domains, runs.mixtures[:64], [("pile_cc_loss", "lower")],
                                      runs.outcomes[:64], keys=runs.keys[:64])
    def batch(seed):
        proposer = mixatlas.Proposer(first, surrogate="gp", acquisition="ucb", beta=1.0,
                                     samples=5000, min_distance=0.1, seed=seed)
        proposer.tell(first)
        return proposer.ask(4)
    table = batch(0)
    assert len(table) == 4, table
    w = np.column_stack([np.asarray(table[d]) for d in runs.domains])
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(w >= 0)
    spread = [0.5 * np.abs(w[i] - w[j]).sum() for i in range(4) for j in range(i)]
    assert min(spread) >= 0.1 - 1e-9, spread
    assert np.all(np.asarray(table["nearest_run_distance"]) >= 0.1 - 1e-9)
    assert np.all(np.asarray(table["pile_cc_loss_epistemic_std"]) > 0)
    acq = np.asarray(table["acquisition"])
    assert acq[0] == acq.max(), acq
    # The same seed asks for the same batch.
    again = batch(0)
    np.testing.assert_array_equal(np.column_stack([np.asarray(again[d]) for d in runs.domains]), w)
    try:
        mixatlas.Proposer(first, acquisition="greedy")
    except mixatlas.MixatlasError as e:
        assert "acquisition `greedy`" in str(e)
    else:
        raise AssertionError("no error for an unknown acquisition")


def test_hf_mixture_realises_the_recipes_token_shares():
    try:
        from datasets import Dataset
    except ImportError:
        if os.environ.get("CI"):
            raise
        print("datasets missing: mixatlas.hf not checked")
        return
    from mixatlas.hf import mixture, probabilities

    lengths = {"web": 1000, "code": 300, "math": 500}
    n = 100_000
    parts = {d: Dataset.from_dict({"domain": [d] * n, "n_tokens": [L] * n}) for d, L in lengths.items()}
    parts["books"] = Dataset.from_dict({"domain": ["books"] * 10, "n_tokens": [10] * 10})
    with tempfile.TemporaryDirectory() as d:
        recipe = os.path.join(d, "r.json")
        with open(recipe, "w") as f:
            f.write('{"format": "mixatlas-recipe", "name": "r", "space": "s", '
                    '"weights": {"web": 0.5, "code": 0.3, "math": 0.2, "books": 0.0}}')
        p = probabilities(recipe, parts, length_column="n_tokens")
        assert set(p) == {"web", "code", "math"}, p
        mixed = mixture(recipe, parts, length_column="n_tokens", seed=0)
        tokens = {}
        for row in mixed.select(range(100_000)):
            tokens[row["domain"]] = tokens.get(row["domain"], 0) + row["n_tokens"]
        total = sum(tokens.values())
        for dom, w in {"web": 0.5, "code": 0.3, "math": 0.2}.items():
            assert abs(tokens[dom] / total - w) < 0.005, (dom, tokens[dom] / total)
        try:
            mixture({"web": 0.5, "poetry": 0.5}, parts, length_column="n_tokens")
        except ValueError as e:
            assert "poetry" in str(e)
        else:
            raise AssertionError("no error for a domain without a dataset")


def test_a_trainer_run_writes_the_evaluator_results_file():
    try:
        import torch
        from datasets import Dataset
        from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
    except ImportError:
        if os.environ.get("CI"):
            raise
        print("transformers missing: the Trainer callback not checked")
        return
    from mixatlas.hf import mixture, read_proposals, results_callback

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    def domain(low, high, n=64):
        ids = rng.integers(low, high, size=(n, 16)).tolist()
        return Dataset.from_dict({"input_ids": ids, "labels": ids})
    parts = {"low": domain(0, 32), "high": domain(32, 64)}
    with tempfile.TemporaryDirectory() as d:
        proposals = os.path.join(d, "proposals.jsonl")
        with open(proposals, "w") as f:
            for i, w in enumerate([0.8, 0.3]):
                f.write(f'{{"run_id": "r001-0{i + 1}", "stage": 0, "weights": {{"low": {w}, "high": {1 - w}}}}}\n')
        results = os.path.join(d, "results.csv")
        for run in read_proposals(proposals):
            train = mixture(run["weights"], parts, seed=0)
            model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=1, n_head=2))
            args = TrainingArguments(output_dir=os.path.join(d, run["run_id"]), max_steps=4,
                                     per_device_train_batch_size=8, eval_strategy="steps", eval_steps=4,
                                     report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True)
            trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=parts["high"],
                              callbacks=[results_callback(results, run["run_id"], {"eval_loss": "val_loss"})])
            trainer.train()
        with open(results) as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["run_id", "val_loss"], rows
        assert [r[0] for r in rows[1:]] == ["r001-01", "r001-02"], rows
        assert all(0 < float(r[1]) < 10 for r in rows[1:]), rows


if __name__ == "__main__":
    for name, test in list(globals().items()):
        if name.startswith("test_"):
            test()
            print(f"ok {name}")
