"""A tiny language-model world for a closed mixatlas loop over real training.

Five training domains, each a synthetic "language" over one 48-token vocabulary, made here
(nothing is downloaded):

    markov_a   a sparse bigram chain over tokens 0-23
    markov_b   another sparse bigram chain over the same tokens
    arith      "a+b=c;" sums over digit tokens 24-36
    motifs     short random motifs repeated to the end of the sequence, tokens 37-47
    noise      uniform tokens over the whole vocabulary (nothing to learn)

The target is a held-out mixture of *tasks*, none of which is a training domain as such:
40% a chain whose transitions are the average of markov_a's and markov_b's, 30% sums with
larger numbers, 30% motifs. Its loss (cross-entropy per token, nats) is what the campaign
minimises; the best training mixture is not the target's task proportions, and the uniform
soup wastes a fifth of its tokens on noise.

A run trains a 2-layer GPT-2-style model (built from a config) with the Hugging Face Trainer
on CPU for a fixed token budget, on the mixture `mixatlas.hf.mixture` builds from the
proposal's weights, and `mixatlas.hf.results_callback` writes its evaluation in the
evaluator contract's results format.

    python3 tinylm.py --proposals P.jsonl --results R.csv --seed 0 --steps 150
"""
import argparse
import os

import numpy as np

VOCAB = 48
SEQ = 64
BATCH = 32
DOMAINS = ["markov_a", "markov_b", "arith", "motifs", "noise"]
WORLD_SEED = 1234  # fixes the chains: the same world for every run and seed
TARGET_SEQS = 512


def chain(rng, states=24, successors=3):
    """A sparse bigram transition matrix `[states, states]`: each token has a few likely
    successors (probabilities 0.6, 0.3, 0.1)."""
    t = np.zeros((states, states))
    for s in range(states):
        nxt = rng.choice(states, size=successors, replace=False)
        t[s, nxt] = [0.6, 0.3, 0.1][:successors]
    return t / t.sum(1, keepdims=True)


WORLD = np.random.default_rng(WORLD_SEED)
CHAIN_A, CHAIN_B = chain(WORLD), chain(WORLD)


def markov(rng, n, transitions):
    """`n` sequences `[n, 64]` of the bigram chain `transitions`."""
    cum = np.cumsum(transitions, 1)
    out = np.empty((n, SEQ), dtype=np.int64)
    out[:, 0] = rng.integers(0, transitions.shape[0], n)
    for i in range(1, SEQ):
        u = rng.random(n)[:, None]
        out[:, i] = np.minimum((cum[out[:, i - 1]] < u).sum(1), transitions.shape[0] - 1)
    return out


def arith(rng, n, high=50):
    """`n` sequences `[n, 64]` of sums `a+b=c;` with `a, b < high`."""
    digits = {str(d): 24 + d for d in range(10)}
    digits.update({"+": 34, "=": 35, ";": 36})
    out = np.empty((n, SEQ), dtype=np.int64)
    for r in range(n):
        seq = []
        while len(seq) < SEQ:
            a, b = rng.integers(0, high, 2)
            seq += [digits[c] for c in f"{a}+{b}={a + b};"]
        out[r] = seq[:SEQ]
    return out


def motifs(rng, n):
    """`n` sequences `[n, 64]`, each a random motif of 3-6 tokens repeated."""
    out = np.empty((n, SEQ), dtype=np.int64)
    for r in range(n):
        motif = rng.integers(37, VOCAB, rng.integers(3, 7))
        out[r] = np.resize(motif, SEQ)
    return out


def domain(name, n, seed):
    """`n` sequences `[n, 64]` of a training domain."""
    rng = np.random.default_rng([seed, DOMAINS.index(name)])
    if name == "markov_a":
        return markov(rng, n, CHAIN_A)
    if name == "markov_b":
        return markov(rng, n, CHAIN_B)
    if name == "arith":
        return arith(rng, n)
    if name == "motifs":
        return motifs(rng, n)
    return rng.integers(0, VOCAB, (n, SEQ))


def target():
    """The held-out target tasks `[512, 64]` (a fixed sample)."""
    rng = np.random.default_rng([WORLD_SEED, 99])
    n_chain, n_arith = int(0.4 * TARGET_SEQS), int(0.3 * TARGET_SEQS)
    parts = [markov(rng, n_chain, (CHAIN_A + CHAIN_B) / 2),
             arith(rng, n_arith, high=100),
             motifs(rng, TARGET_SEQS - n_chain - n_arith)]
    return np.concatenate(parts)


def as_dataset(ids):
    """A `datasets.Dataset` of token ids `[n, 64]`, its own labels (causal LM)."""
    from datasets import Dataset

    rows = ids.tolist()
    return Dataset.from_dict({"input_ids": rows, "labels": rows})


def train(run_id, weights, seed, steps, results, out_dir):
    """Trains one run on the mixture `weights` and appends its target loss to `results`."""
    import torch
    from transformers import (GPT2Config, GPT2LMHeadModel, PrinterCallback, Trainer,
                              TrainingArguments)
    from transformers.utils import logging

    from mixatlas.hf import mixture, results_callback

    logging.set_verbosity_error()
    # Enough examples that the largest share is not exhausted within the budget.
    n = steps * BATCH + BATCH
    parts = {d: as_dataset(domain(d, n, seed)) for d in DOMAINS if weights.get(d, 0) > 0}
    train_set = mixture(weights, parts, tokens_per_example={d: SEQ for d in parts}, seed=seed)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=SEQ, n_embd=64, n_layer=2,
                                       n_head=4, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    args = TrainingArguments(
        output_dir=os.path.join(out_dir, run_id), max_steps=steps, per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=128, learning_rate=3e-3, warmup_steps=steps // 10,
        lr_scheduler_type="cosine", eval_strategy="steps", eval_steps=steps, save_strategy="no",
        logging_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=seed,
        data_seed=seed)
    trainer = Trainer(model=model, args=args, train_dataset=train_set,
                      eval_dataset=as_dataset(target()),
                      callbacks=[results_callback(results, run_id, {"eval_loss": "target_loss"})])
    trainer.remove_callback(PrinterCallback)  # the results file has what matters
    trainer.train()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", required=True, help="the campaign's {proposals} file")
    parser.add_argument("--results", required=True, help="the campaign's {results} file")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every run")
    parser.add_argument("--steps", type=int, default=150,
                        help=f"optimizer steps of {BATCH} x {SEQ} tokens per run")
    parser.add_argument("--work", default=None, help="scratch folder (default: beside results)")
    a = parser.parse_args()
    from mixatlas.hf import read_proposals

    work = a.work or os.path.join(os.path.dirname(os.path.abspath(a.results)), "tinylm-work")
    for run in read_proposals(a.proposals):
        weights = {d: float(run["weights"].get(d, 0.0)) for d in DOMAINS}
        train(run["run_id"], weights, a.seed, a.steps, a.results, work)


if __name__ == "__main__":
    main()
