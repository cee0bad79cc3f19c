package plots

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// TrainLog is the content of a training run's train.jsonl (model.Train
// writes it): one JSON object per line, an "event" of "step" or "eval".
type TrainLog struct {
	Steps []StepRecord
	Evals []EvalRecord
}

// StepRecord is one training step: {"event":"step","step":N,"loss":…,
// "class":…,"bce":…,"dice":…,"lr":…,"grad_norm":…,"images_per_s":…[,"mp":…]}.
// Loss components are summed over the batch's images, as the trainer
// logs them. A field missing from the line is NaN (MP is present only for
// MP-Former runs).
type StepRecord struct {
	Step       int
	Loss       float64
	Class      float64
	BCE        float64
	Dice       float64
	MP         float64
	LR         float64
	GradNorm   float64
	ImagesPerS float64
}

// EvalRecord is one validation: {"event":"eval","step":N,"images":…,
// "pq":…,"pq_things":…,"pq_stuff":…,"ap":…,"ap50":…,"miou":…}, fractions
// as logged (AP is −1 when no category had GT, as pycocotools reports it).
// A field missing from the line is NaN.
type EvalRecord struct {
	Step     int
	Images   int
	PQ       float64
	PQThings float64
	PQStuff  float64
	AP       float64
	AP50     float64
	MIoU     float64
}

// ReadTrainLog reads a train.jsonl file. See ParseTrainLog.
func ReadTrainLog(path string) (TrainLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return TrainLog{}, fmt.Errorf("plots: read train log: %w", err)
	}
	defer f.Close()
	return ParseTrainLog(f, path)
}

// ParseTrainLog reads a train log from r; name (the file's path) is used
// in errors, which give the line: "plots: run/train.jsonl:12: …".
//
// Blank lines and events other than "step" and "eval" are skipped. A step
// line needs "step" and "loss", an eval line "step"; other fields may be
// missing (NaN) but must be numbers when present. A resumed run appends the
// steps after its last checkpoint again: when a step number does not
// increase, the records it repeats (steps ≥ it, validations after it) are
// dropped, so the log reads as one run.
func ParseTrainLog(r io.Reader, name string) (TrainLog, error) {
	var log TrainLog
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		fail := func(format string, a ...any) error {
			return fmt.Errorf("plots: %s:%d: %s", name, line, fmt.Sprintf(format, a...))
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return TrainLog{}, fail("not a JSON object: %v", err)
		}
		var event string
		if ev, ok := raw["event"]; !ok {
			return TrainLog{}, fail(`no "event" field`)
		} else if err := json.Unmarshal(ev, &event); err != nil {
			return TrainLog{}, fail(`"event" is not a string: %s`, ev)
		}
		if event != "step" && event != "eval" {
			continue
		}
		num := func(key string, required bool) (float64, error) {
			v, ok := raw[key]
			if !ok || string(v) == "null" {
				if required {
					return 0, fail("%s event without %q", event, key)
				}
				return math.NaN(), nil
			}
			var f float64
			if err := json.Unmarshal(v, &f); err != nil {
				return 0, fail("%q is not a number: %s", key, v)
			}
			return f, nil
		}
		var errs []error
		get := func(key string, required bool) float64 {
			f, err := num(key, required)
			if err != nil {
				errs = append(errs, err)
			}
			return f
		}
		stepF := get("step", true)
		if len(errs) == 0 && (stepF != math.Trunc(stepF) || stepF < 0) {
			return TrainLog{}, fail(`"step" is not a non-negative integer: %v`, stepF)
		}
		step := int(stepF)
		switch event {
		case "step":
			rec := StepRecord{
				Step: step, Loss: get("loss", true), Class: get("class", false), BCE: get("bce", false),
				Dice: get("dice", false), MP: get("mp", false), LR: get("lr", false),
				GradNorm: get("grad_norm", false), ImagesPerS: get("images_per_s", false),
			}
			if len(errs) > 0 {
				return TrainLog{}, errs[0]
			}
			if n := len(log.Steps); n > 0 && step <= log.Steps[n-1].Step {
				log.truncate(step)
			}
			log.Steps = append(log.Steps, rec)
		case "eval":
			images := get("images", false)
			rec := EvalRecord{
				Step: step, PQ: get("pq", false), PQThings: get("pq_things", false), PQStuff: get("pq_stuff", false),
				AP: get("ap", false), AP50: get("ap50", false), MIoU: get("miou", false),
			}
			if len(errs) > 0 {
				return TrainLog{}, errs[0]
			}
			if !math.IsNaN(images) {
				rec.Images = int(images)
			}
			if n := len(log.Evals); n > 0 && step <= log.Evals[n-1].Step {
				log.Evals = dropEvalsFrom(log.Evals, step)
			}
			log.Evals = append(log.Evals, rec)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return TrainLog{}, fmt.Errorf("plots: %s:%d: line longer than 16 MiB", name, line+1)
		}
		return TrainLog{}, fmt.Errorf("plots: read %s: %w", name, err)
	}
	return log, nil
}

// truncate drops the step records from step on and the validations after
// step: what a resumed run logs again.
func (l *TrainLog) truncate(step int) {
	k := len(l.Steps)
	for k > 0 && l.Steps[k-1].Step >= step {
		k--
	}
	l.Steps = l.Steps[:k]
	k = len(l.Evals)
	for k > 0 && l.Evals[k-1].Step > step {
		k--
	}
	l.Evals = l.Evals[:k]
}

// dropEvalsFrom drops the validations at or after step.
func dropEvalsFrom(ev []EvalRecord, step int) []EvalRecord {
	k := len(ev)
	for k > 0 && ev[k-1].Step >= step {
		k--
	}
	return ev[:k]
}
