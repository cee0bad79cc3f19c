#!/bin/bash
# The study of issue #17 as it ran here: ablation specs, 3 seeds each.
#
# Binaries: label_noise ran with /work/bin/mpanalyze-study-2b916fc (branch
# study at 2b916fc, clean tree), one run at a time. The other specs ran
# with BIN (default /work/bin/mpanalyze-c8d99c7, main at c8d99c7), JOBS
# runs at once, each on one thread (GOMAXPROCS=1). The two binaries train
# byte-identically (a 12-step MP-Former run gives identical checkpoint,
# run.json and train.jsonl), and runs are deterministic whatever
# GOMAXPROCS is, so where a spec mixes them the results do not depend on it.
#
# Within a spec the runs go seed-major (every point at seed 1, then at
# seed 2, ...) through --index, so that an interrupted spec still has
# complete paired seeds. Rerunning resumes: finished runs are skipped,
# a killed run continues from its last checkpoint.
set -u
# Run from an empty directory: a spec name that is also a directory here
# would be read as a spec path.
mkdir -p /work/runs/study/cwd && cd /work/runs/study/cwd
L=/work/runs/study/logs T=/work/runs/study/times.log
export BIN=${BIN:-/work/bin/mpanalyze-c8d99c7} L T
mkdir -p $L
for spec in ${SPECS:-pilot_layers maskformer_vs_mask2former schedule queries noise_ratio}; do
  n=$($BIN ablate $spec --seeds 3 --list | sed -n 1p | sed -E 's/^[^:]*: ([0-9]+) runs.*/\1/')
  points=$((n / 3))
  echo "== $spec start $(date -u +%FT%TZ) bin $BIN ($n runs, ${JOBS:-2} at once)" >> $T
  for s in 0 1 2; do
    for ((p = 0; p < points; p++)); do echo "$spec $((p * 3 + s))"; done
  done | xargs -P "${JOBS:-2}" -L 1 bash -c '
    GOMAXPROCS=1 /usr/bin/time -f "$0 run $1 wall %e s user %U s sys %S s exit %x" -a -o $T \
      nice -n 10 $BIN ablate $0 --seeds 3 --index $1 --out /work/runs/study/$0 >> $L/$0.$1.out 2>> $L/$0.$1.err'
  echo "== $spec end $(date -u +%FT%TZ)" >> $T
done
