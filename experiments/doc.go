// Package experiments runs mpanalyze experiments: a spec (a base run, a grid
// of points that override it, and seeds) is resolved into training runs,
// each trained with model.Train, probed and evaluated on the validation
// images at several points of training, and written to a self-describing
// run directory; results of one or several output directories are loaded,
// merged and turned into tables (package tables), a verdict and figures
// (package plots).
//
// # Specs
//
// A spec is YAML (or JSON) with name, base, grid and/or product, and seeds;
// specs/README.md documents the format with a commented example, and
// specs/*.yaml are the built-in specs (Builtins, LoadSpec by name).
// Overrides are dotted keys onto run.Config's JSON form: model fields
// without prefix ("queries", "mp.noise", "loss.class_weight"), training
// fields without prefix ("steps", "batch", "schedule.base_lr"), and
// "augment.*", "data.*" (training and validation sets), "val.*",
// "eval_every", "ckpt_every". "arch" and "steps" are applied first (they pick
// the model and schedule defaults); "steps_scale" is a fraction of
// base.steps. Keys lists them all. An unknown key or a value of the wrong
// type is an error naming the spec file, the point and the key.
//
// # Runs
//
// Run i of an experiment is grid point i / len(Seeds) with seed
// Seeds[i % len(Seeds)] (point-major). Its directory is OUT/<point>/seed-<n>:
//
//	manifest.json          resolved RunConfig, seed, point overrides, spec source and
//	                       SHA-256, tool version and git revision, data descriptions,
//	                       conventions, metric definitions
//	run.json, train.jsonl  model.Train's settings and log
//	checkpoints/           latest.npz (resumable) and step-NNNNNN.npz per snapshot
//	reports/step-NNNNNN.json  probes.Report and metrics.EvalReport of a snapshot
//	traces/step-NNNNNN.npz/.json  the trace of the final snapshot (all with TraceAll)
//	metrics.jsonl          one line per (snapshot, stage) and per snapshot
//	DONE                   written last, atomically: the run is finished
//	.lock                  flock-ed by the process running the run; names it
//	FAILED                 why the last attempt stopped (error or signal)
//
// and OUT/experiment.json lists the spec and all its runs. Runner.Run skips
// runs with DONE, resumes the others (training from its latest checkpoint,
// probing only the snapshots without a report), and refuses a directory
// whose manifest describes another run (another resolved config, seed,
// point or conventions). Every file is replaced atomically.
//
// # Sweeps and concurrent writers
//
// PrepareSweep writes a Slurm array job of an experiment into OUT:
// sweep.sbatch (task i runs `mpanalyze ablate OUT/spec.yaml --out OUT
// --index i`, with absolute paths), spec.yaml (the spec pinned: later edits
// of the original do not reach queued tasks), logs/<job>_<task>.out and,
// once submitted (Slurm.Submit), slurm-jobs.json. Slurm.Status tells done,
// running, failed and pending runs apart from the run directories and
// squeue / sacct / scontrol; Slurm.Resubmit submits the failed ones again.
//
// Many processes, on several nodes, may write into one OUT at once. Each
// writes only its run's directory, holding the run's lock: a second process
// given the same run (a task resubmitted while the first still runs) fails
// with a BusyError instead of writing the same files, and writes no failure
// record. experiment.json is created once (a hard link of a complete
// temporary file, which never replaces) and left alone by every process
// that finds the same content. Files are written to a temporary file and
// renamed, so Load, run while the runs write, sees whole files; it takes a
// run only once its DONE exists, which is written after the last report,
// and names the others (Unfinished, NotStarted). TestConcurrentRunsAndReaders
// runs six processes for four runs into one directory while Load reads it.
//
// # Parallelism
//
// Runner trains one run at a time on all cores by default; Parallel n trains
// n runs side by side with Workers/n cores each. PyTorch used the 2-core
// machine best with two single-threaded runs side by side
// (docs/papers.md#small-scale),
// but our trainer spreads a batch's images over its workers (800 steps of
// the diagnosis used 192 % CPU on two free cores), and on the 2-core
// development machine two 40-step diagnosis runs took, side by side with
// one core each against one after the other on two cores: 29.5 and 30.5 s
// against 29.9 and 32.0 s on the free machine (1–5 % in favour of side by
// side), 59.0 and 57.4 s against 55.0 and 54.4 s while another training
// job ran (5–7 % against). Side by side also leaves a core idle once the
// shorter of two runs ends (Mask2Former steps cost 10 % less than
// MP-Former's), which costs more than that in `mpanalyze reproduce`. The
// model guarantees that the number of workers never changes a result, so
// neither does the schedule: TestRunner checks that metrics.jsonl is
// byte-identical whether runs were trained alone, side by side, split by
// index or interrupted and resumed.
//
// # Results
//
// Load reads finished runs below any number of directories and refuses to
// mix runs measured under different Conventions. Runs with the same point
// name and configuration (seed aside) are seeds of one configuration;
// tables show mean ± sample sd over seeds. Comparison.Verdict states
// whether one configuration's mean consecutive IoU and mean Util-A are
// above another's and by how many percentage points.
package experiments
