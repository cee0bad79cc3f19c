package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"math"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/plots"
	"github.com/mpanalyze/mpanalyze/probes"
)

// traceRef is one trace the viewer shows: a model at a checkpoint.
type traceRef struct {
	Model, Checkpoint int
	Path              string
	// Dataset is how to render the trace's images: the dataset spec, the
	// description it must match (data.Dataset.Describe of the dataset
	// probed), and the input size. A zero Spec.Kind with a nil Describe
	// means unknown.
	Dataset   data.Spec
	Describe  map[string]any
	ImageSize int
}

// buildViewer reads the traces and builds the viewer: the images the
// traces have in common (the first maxImages of them, in the first trace's
// order, except that image first, when it is one of them, comes first),
// and for each trace a panel per image.
func buildViewer(models []Model, ckpts []Checkpoint, refs []traceRef, classes []string, maxImages, first int) (*Viewer, error) {
	v := &Viewer{Models: models, Checkpoints: ckpts, Classes: classes, MaxImages: maxImages}
	if len(refs) == 0 {
		return nil, nil
	}
	readers := make([]*probes.TraceReader, len(refs))
	defer func() {
		for _, r := range readers {
			if r != nil {
				r.Close()
			}
		}
	}()
	for i, ref := range refs {
		r, err := probes.OpenTrace(ref.Path, nil)
		if err != nil {
			return nil, err
		}
		readers[i] = r
	}
	pos, common := commonImages(readers)
	v.TotalImages = len(common)
	v.NumClasses = readers[0].Info().NumClasses
	if len(common) == 0 {
		return nil, fmt.Errorf("report: the traces %s and the others have no image in common", refs[0].Path)
	}
	var shown []int
	shown, v.Choice = chooseImages(common, maxImages, first)
	for i, ref := range refs {
		info := readers[i].Info()
		for ii, idx := range shown {
			im, err := readers[i].Image(pos[i][idx])
			if err != nil {
				return nil, err
			}
			p, err := makePanel(im, &info)
			if err != nil {
				return nil, fmt.Errorf("report: %s: image %d: %w", ref.Path, idx, err)
			}
			p.Model, p.Checkpoint, p.Image = ref.Model, ref.Checkpoint, ii
			v.Panels = append(v.Panels, *p)
		}
	}
	v.addImages(refs, readers[0].Info(), shown)
	return v, nil
}

// commonImages returns the dataset indices of the images every trace
// holds, in the first trace's order, and the position of each index in
// each trace.
func commonImages(readers []*probes.TraceReader) (pos []map[int]int, common []int) {
	pos = make([]map[int]int, len(readers))
	for i, r := range readers {
		pos[i] = map[int]int{}
		for k, im := range r.Sidecar().Images {
			pos[i][im.Index] = k
		}
	}
	for _, im := range readers[0].Sidecar().Images {
		in := true
		for i := range readers {
			if _, ok := pos[i][im.Index]; !ok {
				in = false
				break
			}
		}
		if in {
			common = append(common, im.Index)
		}
	}
	return pos, common
}

// chooseImages returns the images the viewer shows — the first maxImages
// of common, with image first (that of the mask-evolution figures, −1 for
// none) moved to the front when it is among them — and says so.
func chooseImages(common []int, maxImages, first int) (shown []int, choice string) {
	choice = fmt.Sprintf("the first %d", min(maxImages, len(common)))
	for k, idx := range common {
		if idx == first && first >= 0 {
			common = append(append([]int{idx}, common[:k]...), common[k+1:]...)
			choice = fmt.Sprintf("image %d, the one of the mask-evolution figures, then the first %d others", idx, min(maxImages, len(common))-1)
			if maxImages == 1 {
				choice = fmt.Sprintf("image %d, the one of the mask-evolution figures", idx)
			}
			break
		}
	}
	return common[:min(maxImages, len(common))], choice
}

// addImages adds the shown images, rendered from the first trace whose
// dataset can be opened and is the one its trace records (info is the
// first trace's), or without pixels and a note saying why.
func (v *Viewer) addImages(refs []traceRef, info probes.RunInfo, shown []int) {
	w, h := info.MaskW*info.MaskStride, info.MaskH*info.MaskStride
	var why string
	var ds data.Dataset
	var size int
	for _, ref := range refs {
		d, err := openDataset(ref)
		if err == nil {
			ds, size = d, ref.ImageSize
			break
		}
		if why == "" {
			why = err.Error()
		}
	}
	for _, idx := range shown {
		img := Image{Index: idx, W: w, H: h}
		if ds != nil {
			b, err := renderImage(ds, idx, size)
			if err != nil {
				why = err.Error()
				ds = nil
			} else {
				img.JPEG = b
			}
		}
		v.Images = append(v.Images, img)
	}
	if ds != nil {
		v.ImageNote = fmt.Sprintf("Images rendered from the dataset the traces record (%s), at the model's input size, %d×%d.", describeShort(refs[0].Describe), w, h)
	} else {
		for i := range v.Images {
			v.Images[i].JPEG = nil
		}
		v.ImageNote = "The input images could not be rendered (" + why + "), so the masks are drawn over a neutral grey background."
	}
}

// openDataset opens the dataset a trace was probed on and checks that it
// is that dataset (its description matches the recorded one).
func openDataset(ref traceRef) (data.Dataset, error) {
	if ref.Describe == nil && ref.Dataset.Kind == "" {
		return nil, fmt.Errorf("the trace does not describe its dataset")
	}
	spec := ref.Dataset
	if spec.Kind == "" {
		// A trace from elsewhere: its description holds the spec's fields.
		b, _ := json.Marshal(ref.Describe)
		if err := json.Unmarshal(b, &spec); err != nil {
			return nil, fmt.Errorf("the trace's dataset description is not a dataset spec: %v", err)
		}
		if spec.Kind == "" {
			return nil, fmt.Errorf("the trace's dataset description names no kind")
		}
	}
	ds, err := data.Open(spec)
	if err != nil {
		return nil, fmt.Errorf("dataset %s cannot be opened: %v", spec.Kind, err)
	}
	if ref.Describe != nil {
		a, _ := json.Marshal(ref.Describe)
		b, _ := json.Marshal(ds.Describe())
		var ma, mb any
		json.Unmarshal(a, &ma)
		json.Unmarshal(b, &mb)
		a, _ = json.Marshal(ma)
		b, _ = json.Marshal(mb)
		if !bytes.Equal(a, b) {
			return nil, fmt.Errorf("the dataset %s opened here is not the one the trace records (its description differs)", spec.Kind)
		}
	}
	if ref.ImageSize <= 0 {
		return nil, fmt.Errorf("the input size is unknown")
	}
	return ds, nil
}

// renderImage is image idx of ds as the model saw it (resized to size,
// no augmentation), as JPEG.
func renderImage(ds data.Dataset, idx, size int) ([]byte, error) {
	if idx < 0 || idx >= ds.Len() {
		return nil, fmt.Errorf("image %d is not in the dataset (%d images)", idx, ds.Len())
	}
	smp, err := ds.Sample(idx)
	if err != nil {
		return nil, err
	}
	bi := data.MakeImage(smp, size, data.AugParams{Scale: 1})
	s := bi.AsSample()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, plots.ImageFromRGB(s.H, s.W, s.RGB), &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// describeShort names a dataset from its description: "synthetic, val,
// seed 1".
func describeShort(d map[string]any) string {
	if d == nil {
		return "unknown dataset"
	}
	s := fmt.Sprint(d["kind"])
	if v, ok := d["split"]; ok {
		s += ", " + fmt.Sprint(v)
	}
	if v, ok := d["seed"]; ok {
		s += ", seed " + fmt.Sprint(v)
	}
	return s
}

// makePanel computes the viewer's data of one traced image.
func makePanel(im *probes.Image, info *probes.RunInfo) (*Panel, error) {
	st := im.ImageStages()
	S := len(im.Stages)
	if S == 0 {
		return nil, fmt.Errorf("no stage")
	}
	Q := im.Stages[0].NumQueries
	p := &Panel{
		StageLayers: make([]int, S), NumQueries: Q,
		Masks: make([]*mask.Bits, 0, S*Q), Attn: make([][]*mask.Bits, S),
		Cells: make([]Cell, S*Q), FinalGT: make([]int, Q), MeanCons: make([]float64, Q),
	}
	for s := range S {
		p.StageLayers[s] = info.Layers(s)
		p.Masks = append(p.Masks, st.Masks[s]...)
	}
	if im.GT != nil {
		for g, m := range im.GT.Masks {
			p.GT = append(p.GT, GTSegment{Class: im.GT.Classes[g], Mask: m})
		}
	}
	matchedBy := matchedGT(st, S, Q)
	copy(p.FinalGT, matchedBy[S-1])
	for s := range S {
		p.fillStage(im, st, s, matchedBy[s])
	}
	for q := range Q {
		p.MeanCons[q] = math.NaN()
		if S > 1 {
			sum := 0.0
			for s := 1; s < S; s++ {
				sum += p.Cells[s*Q+q].IoUPrev
			}
			p.MeanCons[q] = sum / float64(S-1)
		}
	}
	return p, nil
}

// matchedGT returns, per stage s and query q < Q, the GT segment stage s
// matches to q (−1 for none, and everywhere when the trace has no
// matching).
func matchedGT(st *metrics.ImageStages, S, Q int) [][]int {
	matchedBy := make([][]int, S)
	for s := range S {
		matchedBy[s] = make([]int, Q)
		for q := range matchedBy[s] {
			matchedBy[s][q] = -1
		}
		if st.Match != nil {
			for g, q := range st.Match[s] {
				if q >= 0 && q < Q {
					matchedBy[s][q] = g
				}
			}
		}
	}
	return matchedBy
}

// fillStage fills stage s's cells — each query's top class and score, its
// IoU with the previous stage's, the final stage's and its final GT
// segment's mask, its matched GT and its attention mask's blocked share —
// and the stage's attention masks. p.FinalGT must be set.
func (p *Panel) fillStage(im *probes.Image, st *metrics.ImageStages, s int, matched []int) {
	S, Q := len(im.Stages), p.NumQueries
	stage := &im.Stages[s]
	K := im.Stages[0].NumClasses
	cells := stage.AttnH * stage.AttnW
	if cells > 0 {
		p.Attn[s] = make([]*mask.Bits, Q)
	}
	for q := range Q {
		row := stage.NumMP + q
		c := &p.Cells[s*Q+q]
		c.Class, c.Score = argmaxSoftmax(stage.ClassLogits[row*(K+1) : (row+1)*(K+1)])
		c.IoUPrev = math.NaN()
		if s > 0 {
			c.IoUPrev = metrics.IoU(st.Masks[s-1][q], st.Masks[s][q])
		}
		c.IoUFinal = metrics.IoU(st.Masks[s][q], st.Masks[S-1][q])
		c.IoUGT = math.NaN()
		if g := p.FinalGT[q]; g >= 0 && im.GT != nil {
			c.IoUGT = metrics.IoU(st.Masks[s][q], im.GT.Masks[g])
		}
		c.Matched = matched[q]
		c.Blocked = math.NaN()
		if cells > 0 {
			var m *mask.Bits
			if stage.AttnBits != nil { // compact traces
				m = stage.AttnBits[row]
			} else {
				m = mask.FromBools(stage.AttnH, stage.AttnW, stage.AttnMask[row*cells:(row+1)*cells])
			}
			p.Attn[s][q] = m
			c.Blocked = float64(m.Area()) / float64(cells)
		}
		if row < len(stage.Unblocked) {
			c.Unblocked = stage.Unblocked[row]
		}
	}
}

// argmaxSoftmax returns the index of the largest logit and its softmax
// probability (ties: the first).
func argmaxSoftmax(logits []float32) (int, float64) {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(float64(v - logits[best]))
	}
	return best, 1 / sum
}
