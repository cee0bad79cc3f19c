package experiments

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/jsonnum"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// Kinds of metrics.jsonl lines.
const (
	LineStage    = "stage"
	LineSnapshot = "snapshot"
)

// MetricLine is one line of a run's metrics.jsonl: a "stage" line holds the
// per-stage figures of one stage of one snapshot, a "snapshot" line the
// snapshot's summary and task scores. Every line names the experiment,
// point, seed, model, step and fraction, so that lines of many runs can be
// concatenated and filtered (jq, pandas). Fractions; null where undefined.
type MetricLine struct {
	Kind       string  `json:"kind"`
	Experiment string  `json:"experiment"`
	Point      string  `json:"point"`
	Seed       uint64  `json:"seed"`
	Model      string  `json:"model"`
	Step       int     `json:"step"`
	Steps      int     `json:"steps"`
	Fraction   float64 `json:"fraction"`

	// Stage lines: the stage, the decoder layers before it, and every
	// registry figure (metrics.Figures) by key — for the figures taken
	// over query sets, the primary set under Key and the others under
	// Key_<set> — written inline.
	Stage   int                      `json:"-"`
	Layers  int                      `json:"-"`
	Figures map[string]jsonnum.Float `json:"-"`

	// Snapshot lines: images probed, the verdict's summary and the task
	// scores.
	Images  int             `json:"-"`
	Summary metrics.Summary `json:"-"`
	Scores  TaskScores      `json:"-"`
}

// TaskScores are the headline task scores of a snapshot line.
type TaskScores struct {
	PQ       jsonnum.Float `json:"pq"`
	PQThings jsonnum.Float `json:"pq_things"`
	PQStuff  jsonnum.Float `json:"pq_stuff"`
	AP       jsonnum.Float `json:"ap"`
	AP50     jsonnum.Float `json:"ap50"`
	AP75     jsonnum.Float `json:"ap75"`
	MIoU     jsonnum.Float `json:"miou"`
}

type metricHead struct {
	Kind       string  `json:"kind"`
	Experiment string  `json:"experiment"`
	Point      string  `json:"point"`
	Seed       uint64  `json:"seed"`
	Model      string  `json:"model"`
	Step       int     `json:"step"`
	Steps      int     `json:"steps"`
	Fraction   float64 `json:"fraction"`
}

// MarshalJSON writes the line as one flat object: the common head, then
// the stage fields and figures (keys sorted) or the snapshot fields.
func (l MetricLine) MarshalJSON() ([]byte, error) {
	head, err := json.Marshal(metricHead{l.Kind, l.Experiment, l.Point, l.Seed, l.Model, l.Step, l.Steps, l.Fraction})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(head[:len(head)-1])
	field := func(k string, v any) error {
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		key, err := json.Marshal(k) // JSON's escapes, not Go's (%q writes \x7f)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, ",%s:%s", key, j)
		return nil
	}
	switch l.Kind {
	case LineStage:
		field("stage", l.Stage)
		field("layers", l.Layers)
		for _, k := range slices.Sorted(maps.Keys(l.Figures)) {
			if err := field(k, l.Figures[k]); err != nil {
				return nil, err
			}
		}
	case LineSnapshot:
		field("images", l.Images)
		field("mean_consecutive_iou", jsonnum.Float(l.Summary.ConsecutiveIoU))
		field("mean_util_a", jsonnum.Float(l.Summary.UtilA))
		sc, err := json.Marshal(l.Scores)
		if err != nil {
			return nil, err
		}
		b.WriteByte(',')
		b.Write(sc[1 : len(sc)-1])
	default:
		return nil, fmt.Errorf("experiments: metrics line of kind %q", l.Kind)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a line written by MarshalJSON; unknown numeric keys
// of a stage line are figures.
func (l *MetricLine) UnmarshalJSON(data []byte) error {
	var h metricHead
	if err := json.Unmarshal(data, &h); err != nil {
		return err
	}
	*l = MetricLine{Kind: h.Kind, Experiment: h.Experiment, Point: h.Point, Seed: h.Seed, Model: h.Model, Step: h.Step, Steps: h.Steps, Fraction: h.Fraction}
	switch h.Kind {
	case LineStage:
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return err
		}
		var pos struct {
			Stage  int `json:"stage"`
			Layers int `json:"layers"`
		}
		if err := json.Unmarshal(data, &pos); err != nil {
			return err
		}
		l.Stage, l.Layers = pos.Stage, pos.Layers
		l.Figures = map[string]jsonnum.Float{}
		for k, v := range raw {
			switch k {
			case "kind", "experiment", "point", "seed", "model", "step", "steps", "fraction", "stage", "layers":
				continue
			}
			f, err := jsonnum.Parse(v)
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			l.Figures[k] = jsonnum.Float(f)
		}
	case LineSnapshot:
		var snap struct {
			Images int           `json:"images"`
			Cons   jsonnum.Float `json:"mean_consecutive_iou"`
			UtilA  jsonnum.Float `json:"mean_util_a"`
		}
		if err := json.Unmarshal(data, &snap); err != nil {
			return err
		}
		l.Images, l.Summary = snap.Images, metrics.Summary{ConsecutiveIoU: float64(snap.Cons), UtilA: float64(snap.UtilA)}
		if err := json.Unmarshal(data, &l.Scores); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown kind %q", h.Kind)
	}
	return nil
}

// MetricLines returns the metrics.jsonl lines of one snapshot: one stage
// line per stage, then one snapshot line.
func MetricLines(m *Manifest, rep *SnapshotReport) []MetricLine {
	head := MetricLine{Experiment: m.Experiment, Point: m.Point, Seed: m.Seed, Model: m.Config.Model.Arch,
		Step: rep.Step, Steps: m.Config.Train.Steps, Fraction: rep.Fraction}
	var out []MetricLine
	f := rep.Probe.Figures()
	S := rep.Probe.Layer.NumStages
	for s := 0; s < S; s++ {
		l := head
		l.Kind, l.Stage, l.Layers, l.Figures = LineStage, s, rep.Probe.Run.Layers(s), map[string]jsonnum.Float{}
		for i := range metrics.Figures {
			fg := &metrics.Figures[i]
			sets := []metrics.QuerySet{metrics.FinalMatched}
			if fg.QuerySets {
				sets = append(sets, metrics.NonEmpty, metrics.StageMatched)
			}
			for _, set := range sets {
				if v := fg.Series(f, set); v != nil {
					l.Figures[fg.KeyFor(set)] = jsonnum.NaN
					if s < len(v) {
						l.Figures[fg.KeyFor(set)] = jsonnum.Float(v[s])
					}
				}
			}
		}
		out = append(out, l)
	}
	l := head
	l.Kind, l.Images = LineSnapshot, rep.Probe.Images
	l.Summary = metrics.Summarize(f)
	ev := &rep.Eval
	pq := func(p metrics.PQ) jsonnum.Float {
		if p.N == 0 {
			return jsonnum.NaN
		}
		return jsonnum.Float(p.PQ)
	}
	ap := func(v float64) jsonnum.Float {
		if v < 0 { // pycocotools' −1: no GT instance
			return jsonnum.NaN
		}
		return jsonnum.Float(v)
	}
	l.Scores = TaskScores{PQ: pq(ev.Panoptic.All), PQThings: pq(ev.Panoptic.Things), PQStuff: pq(ev.Panoptic.Stuff),
		AP: ap(ev.Instance.AP), AP50: ap(ev.Instance.AP50), AP75: ap(ev.Instance.AP75), MIoU: jsonnum.Float(ev.Semantic.MIoU)}
	return append(out, l)
}

// writeMetrics rewrites metrics.jsonl from the snapshot reports (in step
// order), atomically.
func writeMetrics(path string, m *Manifest, reps []*SnapshotReport) error {
	sorted := slices.Clone(reps)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Step < sorted[j].Step })
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, rep := range sorted {
			for _, l := range MetricLines(m, rep) {
				if err := enc.Encode(l); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ReadMetrics reads a run's metrics.jsonl; see ParseMetrics.
func ReadMetrics(path string) ([]MetricLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	defer f.Close()
	return ParseMetrics(f, path)
}

// ParseMetrics reads metrics.jsonl lines from r; name (the file's path)
// is used in errors, which give the line: "experiments: RUN/metrics.jsonl:3: …".
// Blank lines are skipped.
func ParseMetrics(r io.Reader, name string) ([]MetricLine, error) {
	var out []MetricLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var l MetricLine
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("experiments: %s:%d: %w", name, n, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("experiments: read %s: %w", name, err)
	}
	return out, nil
}

// metricDefinitions documents the fields of metrics.jsonl lines for the
// manifest: every registry figure, then the snapshot fields.
func metricDefinitions() map[string]string {
	defs := map[string]string{
		"mean_consecutive_iou":    "mean of consecutive_iou over the stage pairs",
		"mean_util_a":             "mean of util_a over the stages before the last (the last is 1 by definition)",
		"pq, pq_things, pq_stuff": "panoptic quality (fractions)",
		"ap, ap50, ap75":          "COCO mask AP of thing classes (fractions; null when no GT instance)",
		"miou":                    "semantic mean IoU (fraction)",
	}
	for _, fg := range metrics.Figures {
		doc := fg.Doc
		if fg.Pair {
			doc += " (null at the last stage)"
		}
		defs[fg.Key] = doc
		if fg.QuerySets {
			defs[fg.KeyFor(metrics.NonEmpty)] = "as " + fg.Key + ", over the queries non-empty at either stage"
			defs[fg.KeyFor(metrics.StageMatched)] = "as " + fg.Key + ", over the queries matched at stage s"
		}
	}
	return defs
}
