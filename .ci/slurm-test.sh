#!/usr/bin/env bash
# A sweep under a real Slurm: starts munged, slurmctld and slurmd for a
# one-node cluster on this machine (private config, key, sockets, ports and
# state under a temporary directory), submits a 4-run tiny sweep with
# `mpanalyze ablate --slurm --submit`, and checks that
#   1. `compare --format json` of the sweep equals that of a local `ablate`
#      of the same spec byte for byte, and so does every run's
#      metrics.jsonl, train.jsonl, checkpoints and traces;
#   2. in a second sweep, a task cancelled with scancel in the middle of
#      training shows as failed in `status` (with its log), compare works on
#      the other runs, and after `status --resubmit` the results again equal
#      the local run's byte for byte.
# It stops the daemons it started (trap). If Slurm is not installed, or its
# daemons cannot start on this machine, it says so in one line and exits 0.
# Needs root (slurmd runs jobs as their users). Run by .ci/run; by hand:
#   sudo .ci/slurm-test.sh            (KEEP=1 keeps the temporary directory;
#   MPANALYZE_BIN=path uses that build instead of `go build`)
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)

say() { echo "slurm-test: $*"; }
for c in munged munge slurmctld slurmd sbatch squeue scancel sinfo python3 ${MPANALYZE_BIN:+true} ${MPANALYZE_BIN:-go}; do
  if ! command -v "$c" >/dev/null 2>&1; then say "skipped: $c is not installed (apt-get install slurm-wlm munge)"; exit 0; fi
done
if [ "$(id -u)" != 0 ]; then say "skipped: needs root to start slurmd"; exit 0; fi

T=$(mktemp -d /tmp/mpanalyze-slurm.XXXXXX)
chmod 755 "$T" # munged wants its socket directory reachable by all
mkdir -p "$T"/state "$T"/spool "$T"/log "$T"/munge-run
mkdir -m 700 "$T"/munge-etc
PIDS=()
cleanup() {
  local rc=$?
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$T/slurmctld.started" ]; then
    scancel --user=root >/dev/null 2>&1 || true
  fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ $rc != 0 ]; then
    say "FAILED (exit $rc); daemon logs:"
    tail -n 15 "$T"/log/*.log 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# Free TCP ports for slurmctld and slurmd.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done
NODE=$(hostname -s)
CPUS=$(nproc)

# munge: a fresh key and a private socket.
dd if=/dev/urandom of="$T"/munge-etc/munge.key bs=1024 count=1 status=none
chmod 400 "$T"/munge-etc/munge.key
SOCK="$T"/munge-run/munge.socket
munged --foreground --socket="$SOCK" --key-file="$T"/munge-etc/munge.key --log-file="$T"/log/munged.log \
  --pid-file="$T"/munge-run/munged.pid --seed-file="$T"/munge-etc/munged.seed >"$T"/log/munged.out 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
if ! munge --socket="$SOCK" -n </dev/null | unmunge --socket="$SOCK" >/dev/null 2>&1; then
  say "skipped: munged did not start on this machine ($(tail -n 1 "$T"/log/munged.log 2>/dev/null))"
  exit 0
fi

# A one-node cluster on localhost. No cgroups: process tracking by
# /proc (proctrack/linuxproc) and no task binding (task/none), which work
# without cgroup v2 delegation; no accounting database (status then asks
# scontrol about finished tasks).
export SLURM_CONF="$T"/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=mpanalyze-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=900
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D >"$T"/log/slurmctld.out 2>&1 &
CTLD=$!
PIDS+=($CTLD)
touch "$T"/slurmctld.started
slurmd -D -N "$NODE" >"$T"/log/slurmd.out 2>&1 &
SLURMD=$!
PIDS+=($SLURMD)
up="" state="" why=""
for _ in $(seq 60); do
  state=$(sinfo -h -o %T 2>/dev/null || true)
  if [ "$state" = idle ]; then up=1; break; fi
  if ! kill -0 "$CTLD" 2>/dev/null; then why="slurmctld exited: $(cat "$T"/log/slurmctld.out "$T"/log/slurmctld.log 2>/dev/null | grep -i error | tail -n 1 || true)"; break; fi
  if ! kill -0 "$SLURMD" 2>/dev/null; then why="slurmd exited: $(cat "$T"/log/slurmd.out "$T"/log/slurmd.log 2>/dev/null | grep -i error | tail -n 1 || true)"; break; fi
  sleep 0.5
done
if [ -z "$up" ]; then
  say "skipped: the Slurm daemons did not start on this machine (${why:-node state '${state:-none}' after 30 s})"
  exit 0
fi
T_UP=$(date +%s)
say "cluster up: slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT, node $NODE with $CPUS CPUs ($((T_UP - T0)) s)"

# The tool, and the tiny spec: 2 points x 2 seeds, 40 steps of a small
# model, a checkpoint every 2 steps, probed at 34 % and 100 %.
if [ -n "${MPANALYZE_BIN:-}" ]; then
  MP=$(readlink -f "$MPANALYZE_BIN")
else
  go build -o "$T"/mpanalyze ./cmd/mpanalyze
  MP="$T"/mpanalyze
fi
cat >"$T"/tiny.yaml <<'EOF'
name: tiny
base:
  steps: 40
  val_images: 4
  data: {size: 64}
  snapshots: [0.34, 1]
  set: {image_size: 64, queries: 8, hidden: 32, ffn: 64, heads: 4, backbone_widths: [16, 16, 32, 32], pixel_dim: 32, mask_dim: 32, batch: 2, ckpt_every: 2}
grid:
  - name: mask2former
    set: {arch: mask2former}
  - name: mpformer
    set: {arch: mpformer}
seeds: [1, 2]
EOF
RUNS="mask2former/seed-1 mask2former/seed-2 mpformer/seed-1 mpformer/seed-2"
FILES="metrics.jsonl train.jsonl checkpoints/latest.npz checkpoints/step-000014.npz checkpoints/step-000040.npz traces/step-000040.npz"

# Local reference.
t=$(date +%s)
"$MP" ablate "$T"/tiny.yaml --out "$T"/local >/dev/null 2>"$T"/log/local.err
"$MP" compare "$T"/local --format json >"$T"/local.json
say "local ablate: $(($(date +%s) - t)) s"

job_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["job"])'; }
# wait_job JOB SECONDS: until no task of JOB is queued or running.
wait_job() {
  local end=$(($(date +%s) + $2))
  while [ -n "$(squeue -h -r -j "$1" -o %i 2>/dev/null)" ]; do
    if [ "$(date +%s)" -gt "$end" ]; then say "job $1 still queued after $2 s"; squeue -r; return 1; fi
    sleep 0.5
  done
}
same_as_local() { # DIR: compare JSON and every run file equal the local run's
  "$MP" compare "$1" --format json >"$1".json
  cmp "$T"/local.json "$1".json
  for r in $RUNS; do for f in $FILES; do cmp "$T/local/$r/$f" "$1/$r/$f"; done; done
}

# 1. A whole sweep, with compare polled while it runs.
t=$(date +%s)
JOB=$("$MP" ablate "$T"/tiny.yaml --out "$T"/sweep1 --slurm --submit --max-parallel 2 --json | job_of)
say "sweep 1 submitted as job $JOB"
polls=0 partial=0
while [ -n "$(squeue -h -r -j "$JOB" -o %i 2>/dev/null)" ]; do
  if "$MP" compare "$T"/sweep1 --format json >"$T"/mid.json 2>"$T"/mid.err; then
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T"/mid.json
    if grep -q "finished runs only" "$T"/mid.err; then partial=$((partial + 1)); fi
  elif ! grep -Eq "no finished run|holds no run yet" "$T"/mid.err; then
    cat "$T"/mid.err; exit 1
  fi
  polls=$((polls + 1))
  if [ $(($(date +%s) - t)) -gt 600 ]; then say "sweep 1 not done after 600 s"; exit 1; fi
  sleep 0.5
done
"$MP" status "$T"/sweep1 >"$T"/status1.txt
grep -q "4 runs: 4 done, 0 running, 0 failed, 0 pending" "$T"/status1.txt || { cat "$T"/status1.txt; exit 1; }
same_as_local "$T"/sweep1
say "sweep 1: 4 runs done in $(($(date +%s) - t)) s; compare polled $polls times while it ran ($partial with finished runs only, stated); compare --format json and $(($(echo $RUNS | wc -w) * $(echo $FILES | wc -w))) run files equal the local run's byte for byte"

# 2. scancel one task mid-training, then resubmit it.
t=$(date +%s)
JOB=$("$MP" ablate "$T"/tiny.yaml --out "$T"/sweep2 --slurm --submit --max-parallel 2 --json | job_of)
CKPT="$T"/sweep2/mask2former/seed-2/checkpoints/latest.npz
end=$(($(date +%s) + 300))
until [ -f "$CKPT" ]; do
  if [ "$(date +%s)" -gt "$end" ]; then say "task ${JOB}_1 wrote no checkpoint in 300 s"; exit 1; fi
  sleep 0.05
done
scancel "${JOB}_1"
step=$(tail -n 1 "$T"/sweep2/mask2former/seed-2/train.jsonl | python3 -c 'import json,sys
try: print(json.loads(sys.stdin.read())["step"])
except Exception: print("?")')
wait_job "$JOB" 600
if [ -f "$T"/sweep2/mask2former/seed-2/DONE ]; then say "task ${JOB}_1 finished before scancel reached it"; exit 1; fi
"$MP" status "$T"/sweep2 >"$T"/status2.txt
grep -q "4 runs: 3 done, 0 running, 1 failed, 0 pending" "$T"/status2.txt || { cat "$T"/status2.txt; exit 1; }
grep -q "job ${JOB}_1 CANCELLED" "$T"/status2.txt || { cat "$T"/status2.txt; exit 1; }
grep -q "last lines of $T/sweep2/logs/${JOB}_1.out" "$T"/status2.txt || { cat "$T"/status2.txt; exit 1; }
"$MP" compare "$T"/sweep2 --format json >/dev/null 2>"$T"/mid2.err
grep -q "finished runs only: 3 of 4 (1 unfinished, 0 not started)" "$T"/mid2.err || { cat "$T"/mid2.err; exit 1; }
sed 's/^/slurm-test:   /' "$T"/status2.txt
JOB2=$("$MP" status "$T"/sweep2 --resubmit --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["resubmitted"]["job"])')
say "scancel ${JOB}_1 sent at step $step of 40; status --resubmit submitted job $JOB2"
wait_job "$JOB2" 600
grep -q "resuming mask2former for 40 steps" "$T"/sweep2/logs/"${JOB2}"_1.out || { cat "$T"/sweep2/logs/"${JOB2}"_1.out; exit 1; }
"$MP" status "$T"/sweep2 >"$T"/status3.txt
grep -q "4 runs: 4 done, 0 running, 0 failed, 0 pending" "$T"/status3.txt || { cat "$T"/status3.txt; exit 1; }
same_as_local "$T"/sweep2
say "sweep 2: cancelled run resumed and finished; compare --format json and every run file equal the local run's byte for byte ($(($(date +%s) - t)) s)"
say "PASS in $(($(date +%s) - T0)) s"
