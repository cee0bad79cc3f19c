#!/bin/bash
# The study of issue #17 as it ran here (/work/runs/study/run-all.sh): ablation specs, 3 seeds, one spec after the other.
# Binary: /work/bin/mpanalyze-study-2b916fc, built from branch study at
# commit 2b916fc (merge of main into study; clean tree).
# Within a spec the runs go seed-major (every point at seed 1, then at
# seed 2, ...) through --index, so that an interrupted spec still has
# complete paired seeds. Rerunning resumes: finished runs are skipped,
# a killed run continues from its last checkpoint.
set -u
# Run from an empty directory: a spec name that is also a directory here
# would be read as a spec path.
mkdir -p /work/runs/study/cwd && cd /work/runs/study/cwd
L=/work/runs/study/logs T=/work/runs/study/times.log
BIN=/work/bin/mpanalyze-study-2b916fc
for spec in ${SPECS:-label_noise pilot_layers maskformer_vs_mask2former noise_ratio schedule queries}; do
  n=$($BIN ablate $spec --seeds 3 --list | head -1 | sed -E 's/^[^:]*: ([0-9]+) runs.*/\1/')
  points=$((n / 3))
  echo "== $spec start $(date -u +%FT%TZ) bin $BIN ($n runs)" >> $T
  for s in 0 1 2; do
    for ((p = 0; p < points; p++)); do
      i=$((p * 3 + s))
      /usr/bin/time -f "$spec run $i wall %e s user %U s sys %S s exit %x" -a -o $T \
        nice -n 10 $BIN ablate $spec --seeds 3 --index $i --out /work/runs/study/$spec >> $L/$spec.out 2>> $L/$spec.err
    done
  done
  echo "== $spec end $(date -u +%FT%TZ)" >> $T
done
