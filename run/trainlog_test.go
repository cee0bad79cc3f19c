package run

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadTrainLogResumed(t *testing.T) {
	log, err := ReadTrainLog(filepath.Join("testdata", "train_m2f.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// Steps 0..47, then 40..99 again: the first 40..47 are superseded.
	if len(log.Steps) != 100 {
		t.Fatalf("%d steps, want 100", len(log.Steps))
	}
	for i, r := range log.Steps {
		if r.Step != i {
			t.Fatalf("record %d has step %d", i, r.Step)
		}
	}
	// Step 40 comes from the resumed part: 120·(0.35 + 0.65·e^(−40/25)) +
	// 3·sin(68) = 55.0541 (rounded, as in the file); the superseded copy
	// is 60 higher.
	if got := log.Steps[40].Loss; got != 55.0541 {
		t.Errorf("step 40 loss %v, want 55.0541 (the resumed copy)", got)
	}
	if !math.IsNaN(float64(log.Steps[0].MP)) {
		t.Errorf("MP of a Mask2Former step = %v, want NaN (absent)", log.Steps[0].MP)
	}
	var steps []int
	for _, e := range log.Evals {
		steps = append(steps, e.Step)
	}
	if got := fmt.Sprint(steps); got != "[20 40 60 80 100]" {
		t.Errorf("eval steps %s, want 20 40 60 80 100", got)
	}
	last := log.Evals[len(log.Evals)-1]
	if last.Images != 16 || last.PQ != 0.35 || last.AP != 0.3 || last.MIoU != 0.6 || last.PQThings != 0.4 {
		t.Errorf("last eval %+v", last)
	}
}

func TestReadTrainLogMP(t *testing.T) {
	log, err := ReadTrainLog(filepath.Join("testdata", "train_mp.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Steps) != 100 || len(log.Evals) != 5 {
		t.Fatalf("%d steps, %d evals; want 100, 5", len(log.Steps), len(log.Evals))
	}
	if r := log.Steps[0]; r.MP != 30 || r.Loss != 110 || r.Class != 49.5 || r.BCE != 27.5 || r.Dice != 33 || r.LR != 0.0003 || r.GradNorm != 70 {
		t.Errorf("step 0 = %+v", r)
	}
}

func TestReadTrainLogErrors(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		content, want string
	}{
		{`{"event":"step","step":0,"loss":1}` + "\n" + `{"event":"step","step":1,"loss":` + "\n", ":2: not a JSON object"},
		{`{"step":0,"loss":1}` + "\n", `:1: no "event" field`},
		{`{"event":3}` + "\n", `:1: not a JSON object`},
		{"\n" + `{"event":"step","step":0}` + "\n", `:2: step event without a number "loss"`},
		{`{"event":"step","loss":1}` + "\n", `:1: step event without a number "step"`},
		{`{"event":"step","step":1.5,"loss":1}` + "\n", `:1: "step" is not a non-negative integer: 1.5`},
		{`{"event":"step","step":1,"loss":"high"}` + "\n", `:1: "loss" is not a number: "high"`},
		{`{"event":"step","step":1,"loss":null}` + "\n", `:1: step event without a number "loss"`},
		{`{"event":"eval","step":1,"pq":[0.1]}` + "\n", `:1: "pq" is not a number: [0.1]`},
		{`[1, 2]` + "\n", ":1: not a JSON object"},
	} {
		path := filepath.Join(dir, fmt.Sprintf("case%d.jsonl", i))
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadTrainLog(path)
		if err == nil || !strings.Contains(err.Error(), "run: "+path+c.want) {
			t.Errorf("case %d: error %v, want one containing %q", i, err, "run: "+path+c.want)
		}
	}
	missing := filepath.Join(dir, "none.jsonl")
	if _, err := ReadTrainLog(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error %v, want one naming %s", err, missing)
	}
}

func TestParseTrainLogNull(t *testing.T) {
	// null (how NaN would be written by a Series-aware writer) reads as NaN.
	log, err := ParseTrainLog(strings.NewReader(`{"event":"eval","step":5,"ap":null,"pq":0.5}`+"\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if e := log.Evals[0]; !math.IsNaN(float64(e.AP)) || e.PQ != 0.5 || !math.IsNaN(float64(e.MIoU)) || e.Step != 5 {
		t.Errorf("eval = %+v", e)
	}
}

// A line cut short by a kill (no newline) is dropped; Write then gives the
// log back as the run wrote it.
func TestTrainLogCutLineAndWrite(t *testing.T) {
	in := `{"event":"step","step":0,"loss":1,"class":null,"bce":null,"dice":null,"mp":null,"lr":null,"grad_norm":null}` + "\n" +
		`{"event":"eval","step":1,"images":2,"pq":0.5,"pq_things":null,"pq_stuff":null,"ap":-1,"ap50":-1,"miou":0.25}` + "\n" +
		`{"event":"step","step":1,"loss":`
	log, err := ParseTrainLog(strings.NewReader(in), "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Steps) != 1 || len(log.Evals) != 1 || !log.HasEval(1) || log.HasEval(0) {
		t.Fatalf("read %+v", log)
	}
	var b strings.Builder
	if err := log.Write(&b); err != nil {
		t.Fatal(err)
	}
	if want := in[:strings.LastIndex(in, "{")]; b.String() != want {
		t.Errorf("Write gave\n%s\nwant\n%s", b.String(), want)
	}
	log.Truncate(0)
	if len(log.Steps) != 0 || len(log.Evals) != 0 {
		t.Errorf("Truncate(0) kept %+v", log)
	}
}
