"""Hugging Face `datasets` from a mixatlas recipe.

`interleave_datasets` samples *examples* with the probabilities it is given, while a recipe's
weights are shares of *tokens*. With mean example lengths L_i (tokens), the per-example
probabilities p_i ∝ w_i / L_i realise the token shares w_i:

    from datasets import load_dataset
    from mixatlas.hf import mixture
    train = mixture("out/proposals/recipes/proposal-01.json",
                    {"web": web, "code": code, "math": math}, length_column="n_tokens")

The lengths come from `tokens_per_example` (a dict), or are measured on up to 10,000 examples
of each dataset from `length_column` (a token count per example) or `input_ids` (tokenized
datasets). Domains with weight 0 are left out, since `interleave_datasets` refuses a zero
probability with `stopping_strategy="all_exhausted"`.
"""
import json
from typing import Dict, Mapping, Optional, Union

SAMPLE = 10_000


def recipe_weights(recipe: Union[str, Mapping[str, float]]) -> Dict[str, float]:
    """The weights of a recipe file (`mixatlas-recipe` JSON, as `propose` writes) or a dict."""
    if isinstance(recipe, Mapping):
        return {k: float(v) for k, v in recipe.items()}
    with open(recipe) as f:
        doc = json.load(f)
    if doc.get("format") != "mixatlas-recipe" or not isinstance(doc.get("weights"), dict):
        raise ValueError(f"{recipe}: not a mixatlas recipe (format mixatlas-recipe, weights)")
    return {k: float(v) for k, v in doc["weights"].items()}


def mean_length(dataset, length_column: Optional[str] = None) -> float:
    """Mean tokens per example of `dataset`, over its first 10,000 examples."""
    part = dataset.select(range(min(SAMPLE, len(dataset))))
    if length_column is not None:
        values = [float(x) for x in part[length_column]]
    elif "input_ids" in part.column_names:
        values = [float(len(x)) for x in part["input_ids"]]
    else:
        raise ValueError("give tokens_per_example, or a length_column, or tokenized datasets "
                         "(input_ids) to measure example lengths")
    if not values or sum(values) <= 0:
        raise ValueError("examples without tokens: cannot realise token shares")
    return sum(values) / len(values)


def probabilities(
    recipe: Union[str, Mapping[str, float]],
    datasets: Mapping[str, object],
    tokens_per_example: Optional[Mapping[str, float]] = None,
    length_column: Optional[str] = None,
) -> Dict[str, float]:
    """Per-example sampling probabilities that realise the recipe's token shares, by domain
    (weighted domains only)."""
    weights = recipe_weights(recipe)
    missing = [d for d, w in weights.items() if w > 0 and d not in datasets]
    if missing:
        raise ValueError(f"no dataset for weighted domain(s): {', '.join(missing)}")
    raw = {}
    for d, w in weights.items():
        if w <= 0:
            continue
        if tokens_per_example is not None:
            if d not in tokens_per_example:
                raise ValueError(f"tokens_per_example has no entry for domain `{d}`")
            length = float(tokens_per_example[d])
        else:
            length = mean_length(datasets[d], length_column)
        raw[d] = w / length
    total = sum(raw.values())
    return {d: p / total for d, p in raw.items()}


def mixture(
    recipe: Union[str, Mapping[str, float]],
    datasets: Mapping[str, object],
    tokens_per_example: Optional[Mapping[str, float]] = None,
    length_column: Optional[str] = None,
    seed: int = 0,
    stopping_strategy: str = "first_exhausted",
):
    """The training mixture: `datasets.interleave_datasets` over the weighted domains with
    the probabilities of `probabilities`."""
    from datasets import interleave_datasets

    p = probabilities(recipe, datasets, tokens_per_example, length_column)
    names = list(p)
    return interleave_datasets([datasets[d] for d in names], probabilities=[p[d] for d in names],
                               seed=seed, stopping_strategy=stopping_strategy)


def read_proposals(path: str):
    """The runs a campaign asks its evaluator to train (`{proposals}`: JSON Lines, one run per
    line with `run_id`, `weights`, `stage`, `history`, `context`)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_result(path: str, run_id: str, outcomes: Mapping[str, float]) -> None:
    """Appends one run's outcomes to the evaluator's results CSV (`{results}`): `run_id`, then
    one column per target, as the campaign names them. The header is written with the first
    run; later runs must give the same targets."""
    import csv
    import math
    import os

    names = list(outcomes)
    bad = [n for n in names if not math.isfinite(float(outcomes[n]))]
    if bad:
        raise ValueError(f"run {run_id}: non-finite outcome(s) {', '.join(bad)}")
    exists = os.path.exists(path) and os.path.getsize(path) > 0
    if exists:
        with open(path, newline="") as f:
            header = next(csv.reader(f))
        if header[1:] != names:
            raise ValueError(f"{path}: columns {header[1:]}, but run {run_id} gives {names}")
    with open(path, "a", newline="") as f:
        writer = csv.writer(f)
        if not exists:
            writer.writerow(["run_id", *names])
        writer.writerow([run_id, *(repr(float(outcomes[n])) for n in names)])
        f.flush()
        os.fsync(f.fileno())


def results_callback(path: str, run_id: str, targets: Mapping[str, str]):
    """A `transformers.TrainerCallback` that writes a finished run's outcomes in the evaluator
    contract's results format: `targets` maps a Trainer metric (`eval_loss`) to the campaign's
    target name (`val_loss`); the last evaluation's values are written when training ends."""
    from transformers import TrainerCallback

    class ResultsCallback(TrainerCallback):
        def __init__(self):
            self.latest = {}

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            self.latest.update(metrics or {})

        def on_train_end(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            missing = [m for m in targets if m not in self.latest]
            if missing:
                raise ValueError(f"run {run_id}: no evaluation logged {', '.join(missing)} "
                                 "(set eval_strategy so the Trainer evaluates before it ends)")
            write_result(path, run_id, {name: self.latest[m] for m, name in targets.items()})

    return ResultsCallback()
