package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/data/coco"
	"github.com/mpanalyze/mpanalyze/internal/progress"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/run"
)

// predEvalReport is `eval --gt --predictions --json`: the parts scored
// (instance from a results file, panoptic from a panoptic predictions
// file), and what was left out.
type predEvalReport struct {
	GT          string                  `json:"gt"`
	Images      int                     `json:"images"`
	Instances   string                  `json:"instances_predictions,omitempty"`
	Panoptic    string                  `json:"panoptic_predictions,omitempty"`
	Instance    *metrics.InstanceReport `json:"instance,omitempty"`
	PQ          *metrics.PanopticReport `json:"panoptic,omitempty"`
	Ignored     map[string]int          `json:"ignored_results,omitempty"`
	ExtraImages int                     `json:"panoptic_predictions_for_other_images,omitempty"`
	ExportedGT  string                  `json:"exported_gt,omitempty"`
	Seconds     float64                 `json:"seconds"`
}

// runEvalPredictions scores prediction files against a COCO ground truth:
// the job of pycocotools' COCOeval (iouType "segm") and panopticapi's
// pq_compute, with the same rules (metrics.InstanceEvaluator,
// metrics.PanopticEvaluator).
func runEvalPredictions(s *streams, o *evalOptions) error {
	switch {
	case o.GT == "":
		return usageErrorf("--predictions needs --gt, the COCO ground-truth JSON")
	case len(o.Predictions) == 0:
		return usageErrorf("--gt needs --predictions (a results or panoptic predictions JSON)")
	case o.Checkpoint != "" || o.COCOOut != "":
		return usageErrorf("--gt/--predictions score existing predictions: leave out --checkpoint and --coco-out")
	}
	if err := outDir("export-gt", o.ExportGT); err != nil {
		return err
	}
	start := time.Now()
	gt, err := coco.OpenTruth(o.GT, o.GTPNGs, o.Spec.SkipInvalid)
	if err != nil {
		return err
	}
	rep := predEvalReport{GT: o.GT, Images: gt.Len(), ExportedGT: o.ExportGT}
	var ins *coco.InstanceResults
	var pan *coco.PanopticResults
	for _, path := range o.Predictions {
		kind, err := predictionsKind(path)
		if err != nil {
			return err
		}
		switch {
		case kind == '[' && ins == nil:
			if ins, err = coco.ReadInstanceResults(path, gt); err != nil {
				return err
			}
			rep.Instances, rep.Ignored = path, ins.Ignored
		case kind == '{' && pan == nil:
			if pan, err = coco.OpenPanopticResults(path, o.PredPNGs, gt); err != nil {
				return err
			}
			rep.Panoptic, rep.ExtraImages = path, pan.Extra
		default:
			return usageErrorf("--predictions: give at most one instance results file (a JSON list) and one panoptic predictions file (a JSON object); %s is a second one", path)
		}
	}
	var exp *run.COCOExport
	if o.ExportGT != "" {
		if exp, err = run.NewCOCOExport(gt.Categories(), "", o.ExportGT, "ground truth scored by mpanalyze eval of "+o.GT); err != nil {
			return err
		}
	}
	bar := progress.New(s.Err, "eval", gt.Len())
	pq, ap, err := run.ScorePredictions(gt, ins, pan, func(i int, t *data.Truth) error {
		bar.Update(i+1, "")
		if exp != nil {
			return exp.Add(t, nil)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if exp != nil {
		if err := exp.Close(); err != nil {
			return err
		}
	}
	if ins != nil {
		rep.Instance = &ap
	}
	if pan != nil {
		rep.PQ = &pq
	}
	rep.Seconds = time.Since(start).Seconds()
	if o.JSON {
		return writeJSON(s.Out, rep)
	}
	printPredEval(s.Out, &rep)
	return nil
}

// predictionsKind is the first non-space byte of a predictions file: '['
// for an instance results list, '{' for a panoptic predictions object.
func predictionsKind(path string) (byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("--predictions: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		b, err := r.ReadByte()
		if err == io.EOF {
			return 0, fmt.Errorf("--predictions: %s is empty", path)
		}
		if err != nil {
			return 0, fmt.Errorf("--predictions: %w", err)
		}
		if bytes.IndexByte([]byte(" \t\r\n"), b) >= 0 {
			continue
		}
		if b != '[' && b != '{' {
			return 0, fmt.Errorf("--predictions: %s is not JSON: an instance results file is a list, a panoptic predictions file an object", path)
		}
		return b, nil
	}
}

// printPredEval prints the COCOeval summary lines and the pq_compute
// table, in percent.
func printPredEval(out io.Writer, r *predEvalReport) {
	fmt.Fprintf(out, "ground truth: %s (%d images)\n", r.GT, r.Images)
	if a := r.Instance; a != nil {
		fmt.Fprintf(out, "\nmask AP of %s (%d categories with GT):\n", r.Instances, a.Categories)
		for _, l := range []struct {
			name string
			v    float64
		}{
			{"AP    @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]", a.AP},
			{"AP    @[ IoU=0.50      | area=   all | maxDets=100 ]", a.AP50},
			{"AP    @[ IoU=0.75      | area=   all | maxDets=100 ]", a.AP75},
			{"AP    @[ IoU=0.50:0.95 | area= small | maxDets=100 ]", a.APs},
			{"AP    @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]", a.APm},
			{"AP    @[ IoU=0.50:0.95 | area= large | maxDets=100 ]", a.APl},
			{"AR    @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]", a.AR1},
			{"AR    @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]", a.AR10},
			{"AR    @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]", a.AR},
			{"AR    @[ IoU=0.50:0.95 | area= small | maxDets=100 ]", a.ARs},
			{"AR    @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]", a.ARm},
			{"AR    @[ IoU=0.50:0.95 | area= large | maxDets=100 ]", a.ARl},
		} {
			fmt.Fprintf(out, "  %s = %.3f\n", l.name, l.v)
		}
		for reason, n := range r.Ignored {
			fmt.Fprintf(out, "  (%d results ignored: %s)\n", n, reason)
		}
	}
	if p := r.PQ; p != nil {
		fmt.Fprintf(out, "\npanoptic quality of %s:\n", r.Panoptic)
		fmt.Fprintf(out, "          |    PQ     SQ     RQ     N\n")
		for _, l := range []struct {
			name string
			v    metrics.PQ
		}{{"All", p.All}, {"Things", p.Things}, {"Stuff", p.Stuff}} {
			fmt.Fprintf(out, "  %-8s| %5.1f  %5.1f  %5.1f  %4d\n", l.name, 100*l.v.PQ, 100*l.v.SQ, 100*l.v.RQ, l.v.N)
		}
		if r.ExtraImages > 0 {
			fmt.Fprintf(out, "  (%d predictions for images not in the ground truth, not scored)\n", r.ExtraImages)
		}
	}
	if r.ExportedGT != "" {
		fmt.Fprintf(out, "\nground truth scored: %s\n", r.ExportedGT)
	}
}
