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

A staged schedule (a campaign's `final.json`, one recipe per midtraining stage) is followed by
`scheduled_mixture` (a torch `IterableDataset`, also usable in a plain PyTorch loop: set its
`stage`) and `schedule_callback`, which switches the stage at the boundaries:

    train = scheduled_mixture("out/campaign/final.json", datasets, length_column="n_tokens")
    trainer = Trainer(..., train_dataset=train, callbacks=[schedule_callback(train)])

A finished Trainer run reports to a campaign through `results_callback` (the evaluator
contract's results file) and `read_proposals` (its proposals file).
"""
import json
from typing import Dict, List, Mapping, Optional, Sequence, Union

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


def read_schedule(path: str) -> List[Dict[str, float]]:
    """The recipes of a campaign's committed schedule (`final.json`), one per stage, in order."""
    with open(path) as f:
        doc = json.load(f)
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not stages or not all(isinstance(s, dict) and isinstance(s.get("weights"), dict)
                             for s in stages):
        raise ValueError(f"{path}: not a campaign schedule (`stages`, each with `weights`)")
    return [recipe_weights(s["weights"]) for s in stages]


def scheduled_mixture(
    schedule: Union[str, Sequence[Mapping[str, float]]],
    datasets: Mapping[str, object],
    tokens_per_example: Optional[Mapping[str, float]] = None,
    length_column: Optional[str] = None,
    seed: int = 0,
):
    """An endless torch `IterableDataset` over `datasets` (map-style, indexable) that draws
    each example's domain with the probabilities realising the token shares of the recipe of
    its current `stage` (an int, 0 first; `schedule_callback` sets it). `schedule` is a
    `final.json` path or a list of recipes. Each domain is read in a fresh random order per
    pass. The stage lives in shared memory, so DataLoader workers follow it too (after the
    batches they had already prefetched)."""
    import numpy as np
    import torch
    from torch.utils.data import IterableDataset, get_worker_info

    recipes = read_schedule(schedule) if isinstance(schedule, str) else list(schedule)
    if not recipes:
        raise ValueError("an empty schedule")
    stage_p = [probabilities(r, datasets, tokens_per_example, length_column) for r in recipes]
    names = sorted({d for p in stage_p for d in p})
    table = np.array([[p.get(d, 0.0) for d in names] for p in stage_p])

    class ScheduledMixture(IterableDataset):
        """Endless examples drawn by the recipe of the current `stage` (0 to `stages - 1`)."""

        def __init__(self):
            self.stages = len(recipes)
            self._stage = torch.zeros(1, dtype=torch.long).share_memory_()

        @property
        def stage(self) -> int:
            """The stage whose recipe the next examples follow."""
            return int(self._stage[0])

        @stage.setter
        def stage(self, value: int) -> None:
            if not 0 <= value < self.stages:
                raise ValueError(f"stage {value}: the schedule has stages 0-{self.stages - 1}")
            self._stage[0] = value

        def __iter__(self):
            worker = get_worker_info()
            rng = np.random.default_rng([seed, worker.id if worker else 0])
            order = {d: rng.permutation(len(datasets[d])) for d in names}
            at = dict.fromkeys(names, 0)
            while True:
                d = names[rng.choice(len(names), p=table[self.stage])]
                if at[d] == len(order[d]):
                    order[d], at[d] = rng.permutation(len(datasets[d])), 0
                yield datasets[d][int(order[d][at[d]])]
                at[d] += 1

    return ScheduledMixture()


def schedule_callback(dataset, boundaries: Optional[Sequence[float]] = None):
    """A `transformers.TrainerCallback` that moves `dataset` (from `scheduled_mixture`) to the
    next stage at each boundary: `boundaries` are the fractions of `max_steps` where stages
    1, 2, ... begin (default: equal stages, as a campaign splits its budget). The stage is set
    after each optimizer step for the batches read next: the Trainer's DataLoader reads one
    batch ahead, so with one batch per step, step k trains on the stage of step k (with
    gradient accumulation or DataLoader workers, the switch lands within their read-ahead)."""
    from transformers import TrainerCallback

    stages = dataset.stages
    if boundaries is None:
        boundaries = [s / stages for s in range(1, stages)]
    boundaries = list(boundaries)
    if len(boundaries) != stages - 1 or any(not 0 < b < 1 for b in boundaries) \
            or any(a >= b for a, b in zip(boundaries, boundaries[1:])):
        raise ValueError(f"{stages} stages need {stages - 1} increasing boundaries in (0, 1), "
                         f"got {boundaries}")

    class ScheduleCallback(TrainerCallback):
        """Sets `dataset.stage` from the optimizer step (see `schedule_callback`)."""

        def on_train_begin(self, args, state, control, **kwargs):
            # The first step of each stage after the first, rounded once (0.7 * 10 is 7).
            self.starts = [round(b * state.max_steps) for b in boundaries]
            # With one batch per step, the batch read after step k-1 is step k+1's; with
            # gradient accumulation, all but one of step k's are still to be read.
            self.ahead = 1 if args.gradient_accumulation_steps == 1 else 0
            dataset.stage = self.stage_at(state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            dataset.stage = self.stage_at(state.global_step + self.ahead)

        def stage_at(self, step):
            return sum(step >= start for start in self.starts)

    return ScheduleCallback()


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
