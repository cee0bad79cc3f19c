package run

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/jsonnum"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// StepRecord is the train.jsonl line of one training step:
//
//	{"event":"step","step":N,"loss":…,"class":…,"bce":…,"dice":…,"mp":…,"lr":…,"grad_norm":…}
//
// Step is the 0-based index of the step. The loss terms are summed over the
// batch's images, weighted and normalised as in the loss (Loss is their
// total, MP terms included). Class, BCE and Dice are the matching queries'
// terms; MP is the sum of MP-Former's mask-pilot terms (null for the other
// models). Undefined values are null (NaN when read).
type StepRecord struct {
	Event    string        `json:"event"` // "step"
	Step     int           `json:"step"`
	Loss     jsonnum.Float `json:"loss"`
	Class    jsonnum.Float `json:"class"`
	BCE      jsonnum.Float `json:"bce"`
	Dice     jsonnum.Float `json:"dice"`
	MP       jsonnum.Float `json:"mp"`
	LR       jsonnum.Float `json:"lr"`
	GradNorm jsonnum.Float `json:"grad_norm"`
}

// EvalRecord is the train.jsonl line of one validation, after Step steps:
//
//	{"event":"eval","step":N,"images":…,"pq":…,"pq_things":…,"pq_stuff":…,"ap":…,"ap50":…,"miou":…}
//
// Scores are fractions as the metrics package reports them (AP is −1 when
// no category had GT, as pycocotools reports it; PQ of a group without a
// category is null).
type EvalRecord struct {
	Event    string        `json:"event"` // "eval"
	Step     int           `json:"step"`
	Images   int           `json:"images"`
	PQ       jsonnum.Float `json:"pq"`
	PQThings jsonnum.Float `json:"pq_things"`
	PQStuff  jsonnum.Float `json:"pq_stuff"`
	AP       jsonnum.Float `json:"ap"`
	AP50     jsonnum.Float `json:"ap50"`
	MIoU     jsonnum.Float `json:"miou"`
}

// Event names of train.jsonl lines.
const (
	EventStep = "step"
	EventEval = "eval"
)

// NewEvalRecord is the record of a validation after step steps.
func NewEvalRecord(step int, rep *metrics.EvalReport) EvalRecord {
	pq := func(p metrics.PQ) jsonnum.Float {
		if p.N == 0 {
			return jsonnum.NaN
		}
		return jsonnum.Float(p.PQ)
	}
	return EvalRecord{
		Event: EventEval, Step: step, Images: rep.Images,
		PQ: pq(rep.Panoptic.All), PQThings: pq(rep.Panoptic.Things), PQStuff: pq(rep.Panoptic.Stuff),
		AP: jsonnum.Float(rep.Instance.AP), AP50: jsonnum.Float(rep.Instance.AP50), MIoU: jsonnum.Float(rep.Semantic.MIoU),
	}
}

// TrainLog is the content of train.jsonl: the step records in step order
// and the validations in step order.
type TrainLog struct {
	Steps []StepRecord
	Evals []EvalRecord
}

// HasEval reports whether the log holds a validation after step steps.
func (l *TrainLog) HasEval(step int) bool {
	for _, e := range l.Evals {
		if e.Step == step {
			return true
		}
	}
	return false
}

// Truncate keeps what a run that has done step steps has logged: the step
// records of steps 0..step−1 and the validations after at most step
// steps.
func (l *TrainLog) Truncate(step int) {
	k := 0
	for k < len(l.Steps) && l.Steps[k].Step < step {
		k++
	}
	l.Steps = l.Steps[:k]
	k = 0
	for k < len(l.Evals) && l.Evals[k].Step <= step {
		k++
	}
	l.Evals = l.Evals[:k]
}

// ReadTrainLog reads a train.jsonl file; see ParseTrainLog.
func ReadTrainLog(path string) (*TrainLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("run: read train log: %w", err)
	}
	defer f.Close()
	return ParseTrainLog(f, path)
}

// logLine is any train.jsonl line; fields a line lacks stay nil.
type logLine struct {
	Event    *string          `json:"event"`
	Step     *json.RawMessage `json:"step"`
	Images   *json.RawMessage `json:"images"`
	Loss     *json.RawMessage `json:"loss"`
	Class    *json.RawMessage `json:"class"`
	BCE      *json.RawMessage `json:"bce"`
	Dice     *json.RawMessage `json:"dice"`
	MP       *json.RawMessage `json:"mp"`
	LR       *json.RawMessage `json:"lr"`
	GradNorm *json.RawMessage `json:"grad_norm"`
	PQ       *json.RawMessage `json:"pq"`
	PQThings *json.RawMessage `json:"pq_things"`
	PQStuff  *json.RawMessage `json:"pq_stuff"`
	AP       *json.RawMessage `json:"ap"`
	AP50     *json.RawMessage `json:"ap50"`
	MIoU     *json.RawMessage `json:"miou"`
}

// ParseTrainLog reads a train log from r; name (the file's path) is used in
// errors, which give the line: "run: RUN/train.jsonl:12: …".
//
// Blank lines and events other than "step" and "eval" are skipped; a last
// line without its newline (a write cut short by a kill) is ignored. A step
// line needs "step" and "loss", an eval line "step"; other fields may be
// missing or null (NaN) but must be numbers when present. Logs of earlier
// versions, which appended the steps after the last checkpoint again on
// resume, read as one run: when a step number does not increase, the
// records it repeats are dropped.
func ParseTrainLog(r io.Reader, name string) (*TrainLog, error) {
	log := &TrainLog{}
	br := bufio.NewReaderSize(r, 64*1024)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err == io.EOF {
			break // a line without its newline was cut short
		}
		if err != nil {
			return nil, fmt.Errorf("run: read %s: %w", name, err)
		}
		if len(b) > 16<<20 {
			return nil, fmt.Errorf("run: %s:%d: line longer than 16 MiB", name, line)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		if err := log.addLine(b); err != nil {
			return nil, fmt.Errorf("run: %s:%d: %w", name, line, err)
		}
	}
	return log, nil
}

func (log *TrainLog) addLine(b []byte) error {
	var l logLine
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("not a JSON object of numbers: %v", err)
	}
	if l.Event == nil {
		return errors.New(`no "event" field`)
	}
	if *l.Event != EventStep && *l.Event != EventEval {
		return nil
	}
	var errs []error
	num := func(key string, v *json.RawMessage, required bool) jsonnum.Float {
		if v == nil {
			if required {
				errs = append(errs, fmt.Errorf("%s event without a number %q", *l.Event, key))
			}
			return jsonnum.NaN
		}
		f, err := jsonnum.Parse(*v)
		if err != nil || (required && math.IsNaN(f)) {
			errs = append(errs, fmt.Errorf("%q is not a number: %s", key, *v))
		}
		return jsonnum.Float(f)
	}
	stepF := float64(num("step", l.Step, true))
	if len(errs) > 0 {
		return errs[0]
	}
	if stepF != math.Trunc(stepF) || stepF < 0 || stepF > 1<<40 {
		return fmt.Errorf(`"step" is not a non-negative integer: %v`, stepF)
	}
	step := int(stepF)
	if *l.Event == EventStep {
		rec := StepRecord{Event: EventStep, Step: step, Loss: num("loss", l.Loss, true), Class: num("class", l.Class, false),
			BCE: num("bce", l.BCE, false), Dice: num("dice", l.Dice, false), MP: num("mp", l.MP, false),
			LR: num("lr", l.LR, false), GradNorm: num("grad_norm", l.GradNorm, false)}
		if len(errs) > 0 {
			return errs[0]
		}
		if n := len(log.Steps); n > 0 && step <= log.Steps[n-1].Step {
			log.Truncate(step)
		}
		log.Steps = append(log.Steps, rec)
		return nil
	}
	images := num("images", l.Images, false)
	rec := EvalRecord{Event: EventEval, Step: step, PQ: num("pq", l.PQ, false), PQThings: num("pq_things", l.PQThings, false),
		PQStuff: num("pq_stuff", l.PQStuff, false), AP: num("ap", l.AP, false), AP50: num("ap50", l.AP50, false), MIoU: num("miou", l.MIoU, false)}
	if len(errs) > 0 {
		return errs[0]
	}
	if !math.IsNaN(float64(images)) {
		rec.Images = int(images)
	}
	k := len(log.Evals)
	for k > 0 && log.Evals[k-1].Step >= step {
		k--
	}
	log.Evals = append(log.Evals[:k], rec)
	return nil
}

// Write writes the log as train.jsonl lines: step records and validations
// merged in the order a run logs them (a validation after step s follows
// the record of step s−1).
func (l *TrainLog) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	e := 0
	for _, s := range l.Steps {
		for e < len(l.Evals) && l.Evals[e].Step <= s.Step {
			if err := enc.Encode(l.Evals[e]); err != nil {
				return err
			}
			e++
		}
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	for ; e < len(l.Evals); e++ {
		if err := enc.Encode(l.Evals[e]); err != nil {
			return err
		}
	}
	return nil
}

// logWriter appends records to a run's train.jsonl.
type logWriter struct {
	f   *os.File
	enc *json.Encoder
	log TrainLog // what the file holds
}

// openLog opens path for appending after cutting it to what a run at step
// steps has logged (a resumed run rewrites the lines after its checkpoint
// exactly as the uninterrupted run wrote them). A missing file is created.
func openLog(path string, step int) (*logWriter, error) {
	log := &TrainLog{}
	if _, err := os.Stat(path); err == nil {
		if log, err = ReadTrainLog(path); err != nil {
			return nil, err
		}
		log.Truncate(step)
		if err := atomicfile.Write(path, log.Write); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run: log: %w", err)
	}
	return &logWriter{f: f, enc: json.NewEncoder(f), log: *log}, nil
}

func (w *logWriter) step(r StepRecord) error {
	w.log.Steps = append(w.log.Steps, r)
	if err := w.enc.Encode(r); err != nil {
		return fmt.Errorf("run: log: %w", err)
	}
	return nil
}

func (w *logWriter) eval(r EvalRecord) error {
	w.log.Evals = append(w.log.Evals, r)
	if err := w.enc.Encode(r); err != nil {
		return fmt.Errorf("run: log: %w", err)
	}
	return nil
}

func (w *logWriter) Close() error { return w.f.Close() }
