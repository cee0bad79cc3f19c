package notebooks

import (
	"fmt"
	"io"
	"strings"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
)

// ImportedTrace is the notebook on reading a trace recorded in PyTorch with
// the mpanalyze_trace package (python/).
func ImportedTrace(nb *Notebook) {
	var (
		tr *probes.TraceReader
		im *probes.Image
	)
	nb.Text(`
		mpanalyze can analyse a model it did not train. A PyTorch
		Mask2Former-style decoder is hooked with the Python package
		` + "`mpanalyze_trace`" + ` (` + "`python/`" + `; a forward hook on the
		predictor, walked through in ` + "`docs/own-model.md`" + `), which writes every
		decoder stage's class and mask logits per image into a trace: an
		` + "`.npz`" + ` that numpy opens and a JSON sidecar describing it
		(` + "`probes/TRACE.md`" + `). The Go side reads it exactly as it reads
		its own.

		The trace here, ` + "`notebooks/testdata/torch_trace`" + ` (50 kB), was
		written by the recorder (then ` + "`record_trace.py`" + `) from made-up decoder outputs in
		the official format (` + "`notebooks/testdata/gen_trace.py`" + `): 3
		images, 3 decoder layers (stages 0..3), 6 queries, 16×16 mask logits
		stored as float16, and no matchings (recorded without scipy). In image
		10, GT segment 1 is drawn first by query 2 and taken over by query 1 at
		stage 2 — the kind of inconsistency the diagnosis measures.

		## Opening it

		` + "`probes.OpenTrace`" + ` checks the sidecar against the archive
		(entries, dtypes, shapes) before anything is read. Matchings missing
		from the trace are computed at read time with Mask2Former's matching
		cost on the stored GT; the run info says so.`)
	nb.Cell(func(w io.Writer) error {
		var err error
		tr, err = probes.OpenTrace("testdata/torch_trace", nil)
		if err != nil {
			return err
		}
		info, side := tr.Info(), tr.Sidecar()
		fmt.Fprintf(w, "recorded by %s\n", info.ToolVersion)
		fmt.Fprintf(w, "model %s: %d stages (layers before each: %v), %d queries, %d classes, masks %d×%d at stride %d\n",
			info.Model, info.NumStages, info.StageLayers, info.NumQueries, info.NumClasses, info.MaskH, info.MaskW, info.MaskStride)
		fmt.Fprintf(w, "images %d, mask logits stored as %s, matching: %s\n", tr.Len(), side.Storage.MaskDType, info.Matching)
		fmt.Fprintf(w, "threshold: %s\n", side.Conventions.Threshold)
		return nil
	})
	nb.Text(`
		## One query through the stages

		Each image comes back as its stages, which share the GT. A query's
		binary mask at a stage is logit > 0 (sigmoid > 0.5) at the mask
		resolution. Query 2 of image 10 through stages 0..3 (` + "`#`" + ` = in the
		mask), and GT segment 1, which it draws at stage 1 and loses to query 1
		at stage 2 (two empty masks count as IoU 1):`)
	nb.Cell(func(w io.Writer) error {
		var err error
		if im, err = tr.Image(0); err != nil {
			return err
		}
		st := im.ImageStages() // binary masks of every stage, matchings, GT
		var cols [][]string
		for s := range st.Masks {
			cols = append(cols, asciiMask(st.Masks[s][2]))
		}
		cols = append(cols, asciiMask(im.GT.Masks[1]))
		fmt.Fprintf(w, "%-16s  %-16s  %-16s  %-16s  %s\n", "stage 0", "stage 1", "stage 2", "stage 3", "GT segment 1")
		for y := range cols[0] {
			var row []string
			for _, c := range cols {
				row = append(row, c[y])
			}
			fmt.Fprintln(w, strings.Join(row, "  "))
		}
		for s := 0; s+1 < len(st.Masks); s++ {
			fmt.Fprintf(w, "IoU(stage %d, stage %d) = %.2f\n", s, s+1, metrics.IoU(st.Masks[s][2], st.Masks[s+1][2]))
		}
		return nil
	})
	nb.Text(`
		The matchings (computed here, since the trace has none) say which
		query each GT segment is assigned to at each stage; −1 would be
		unmatched. The switch of segment 1 from query 2 to query 1 shows as a
		change between stages 1 and 2:`)
	nb.Cell(func(w io.Writer) error {
		for s, stage := range im.Stages {
			fmt.Fprintf(w, "stage %d: GT segment → query %v\n", s, stage.Match)
		}
		return nil
	})
	nb.Text(`
		## The per-stage report

		Replaying the trace into a ` + "`probes.Evaluator`" + ` gives the same
		figures ` + "`mpanalyze analyze`" + ` prints, pooled over the images.
		Segment 1's late switch lowers Util-A at stages 0–1 (it is matched to
		another query than at the end) and the consecutive IoU of the
		final-matched queries between stages 1 and 2.`)
	nb.Cell(func(w io.Writer) error {
		ev := &probes.Evaluator{}
		if err := tr.Replay(ev, 0); err != nil {
			return err
		}
		rep := ev.Report()
		fmt.Fprintf(w, "%d images, %d GT segments, %d matched at the last stage\n", rep.Images, rep.Layer.GT, rep.Layer.FinalMatched)
		t := tables.Stages(&rep, metrics.FinalMatched)
		t.Notes = nil
		if err := t.Render(w, "text"); err != nil {
			return err
		}
		return tr.Close()
	})
	nb.Text(`
		From the command line, ` + "`mpanalyze analyze notebooks/testdata/torch_trace`" + `
		prints this table (with ` + "`--format csv`" + ` or ` + "`--format json`" + ` for
		scripts). A trace recorded from a real checkpoint on a real validation
		set reads the same way; traces from different tools compare only if
		their conventions (stage indexing, threshold, stride) agree, which the
		sidecar states.`)
}

// asciiMask draws a mask as rows of '#' (set) and '.' (unset).
func asciiMask(m *mask.Bits) []string {
	rows := make([]string, m.H)
	for y := range m.H {
		var b strings.Builder
		for x := range m.W {
			if m.At(y, x) {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		rows[y] = b.String()
	}
	return rows
}
