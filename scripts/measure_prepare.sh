#!/usr/bin/env bash
# prepare's throughput and peak memory on a synthetic FairFace-format set of N_TRAIN + N_VAL images.
#   scripts/measure_prepare.sh 16000 4000 /tmp/prep20k     # 20,000 images
#   scripts/measure_prepare.sh 80000 20000 /tmp/prep100k   # 100,000 images
# Writes into the scratch folder (never into the project); prints images, wall time and peak RSS.
# Needs GNU time (/usr/bin/time; Debian package `time`).
set -euo pipefail
n_train=$1 n_val=$2 scratch=$3
project=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$scratch" && cd "$scratch"
"$project/.venv/bin/python" - "$project/params.yaml" "$n_train" "$n_val" <<'PY'
import sys, yaml
params = yaml.safe_load(open(sys.argv[1]))
params["synth"].update(n_train=int(sys.argv[2]), n_val=int(sys.argv[3]), bias="none")
yaml.safe_dump(params, open("params.yaml", "w"))
PY
export PATH="$project/.venv/bin:$PATH" TF_CPP_MIN_LOG_LEVEL=3
fairvision synth 2>/dev/null
/usr/bin/time -v fairvision prepare 2> time.log > /dev/null
grep -h "prepared\|Elapsed\|Maximum resident" time.log
