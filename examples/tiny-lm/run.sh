#!/usr/bin/env bash
# A closed mixatlas loop over real training: one campaign per seed, each training a small
# GPT-2-style model per proposal with the Hugging Face Trainer (tinylm.py, the evaluator),
# then the uniform soup, the best random run and mixatlas's recommendation retrained at fresh
# seeds (summarize.py). Writes OUT/summary.json and OUT/summary.svg.
#
#   examples/tiny-lm/run.sh [--quick] [--out DIR] [--seeds "0 1 2"]
#
# Needs mixatlas (on PATH, or built at target/release/mixatlas; or MIXATLAS=path) and a
# Python with the mixatlas package, torch, transformers and datasets (PYTHON=path, default
# python3). --quick: 16 runs per campaign of 100 steps (about 6 minutes on 2 cores for 3 seeds);
# default: 32 runs of 200 steps (about 20 minutes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=out/tiny-lm
seeds="0 1 2"
steps=200 max_runs=32 initial=12
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) steps=100 max_runs=16 initial=8 ;;
    --out) out=$2; shift ;;
    --seeds) seeds=$2; shift ;;
    *) echo "usage: $0 [--quick] [--out DIR] [--seeds \"0 1 2\"]" >&2; exit 2 ;;
  esac
  shift
done
python=${PYTHON:-python3}
mixatlas=${MIXATLAS:-$(command -v mixatlas || echo "$root/target/release/mixatlas")}
[ -x "$mixatlas" ] || { echo "$0: no mixatlas binary (cargo install --path . or set MIXATLAS)" >&2; exit 1; }

# Only a folder this script made (or a new one) is written to.
if [ -e "$out" ] && [ ! -e "$out/.tiny-lm-output" ] && [ -n "$(ls -A "$out")" ]; then
  echo "$0: $out exists and was not made by this script; choose another --out" >&2
  exit 1
fi
mkdir -p "$out"
touch "$out/.tiny-lm-output"
settings="steps=$steps max_runs=$max_runs initial=$initial"
if [ -e "$out/settings" ] && [ "$(cat "$out/settings")" != "$settings" ]; then
  echo "$0: $out holds campaigns made with other settings ($(cat "$out/settings")); choose another --out" >&2
  exit 1
fi
echo "$settings" > "$out/settings"

for seed in $seeds; do
  dir="$out/seed-$seed"
  mkdir -p "$dir"
  cat > "$dir/campaign.toml" <<TOML
# Written by examples/tiny-lm/run.sh: one tiny-LM campaign (seed $seed).
space = "$here/space.toml"
evaluator = "'$python' '$here/tinylm.py' --proposals {proposals} --results {results} --seed $seed --steps $steps"
targets = [{ name = "target_loss", direction = "lower" }]
max_runs = $max_runs
batch = 4
initial_runs = $initial
seed = $seed

# The GP's posterior mean within a trust region around the best run (the shipped campaign's
# choice): without one, the mean of a surrogate fitted on 8 runs sends rounds to corners where
# it extrapolates.
[strategy]
surrogate = "gp"
acquisition = "mean"

[strategy.trust_region]
TOML
  if [ -e "$dir/campaign/final.json" ]; then
    echo "seed $seed: campaign already finished"
  elif [ -e "$dir/campaign/journal.jsonl" ]; then
    "$mixatlas" loop --campaign "$dir/campaign" --resume
  else
    "$mixatlas" loop --config "$dir/campaign.toml" --campaign "$dir/campaign" --force
  fi
done
# shellcheck disable=SC2086
"$python" "$here/summarize.py" --out "$out" --seeds $seeds --initial-runs "$initial" --steps "$steps"
