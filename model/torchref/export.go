package torchref

// Exports for the PyTorch reference: a parity record of
// one training step (everything the Go step computed or drew, so that the
// reference can redo the step with no discrete choice of its own), and the
// batches and initial weights of a speed race. Both are .npz files in the
// checkpoint layout of model/ckpt (float32 arrays; integers and booleans
// are stored as exact float32 values).

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/mpanalyze/mpanalyze/internal/version"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/model/ckpt"
)

// ParityRecord is what WriteParity computed.
type ParityRecord struct {
	// Loss is the batch loss, Σ over images of their normalised losses.
	Loss float64
	// Images are the per-image loss terms and matchings.
	Images []model.LossStats
	// Grads are the summed parameter gradients (before clipping), by name.
	Grads map[string][]float32
}

// LossFields names the loss terms of a parity record, in the order of the
// "img<i>/loss" arrays.
var LossFields = []string{"total", "class", "mask", "dice", "mp_class", "mp_mask", "mp_dice"}

func lossVector(st *model.LossStats) []float32 {
	v := []float64{st.Total, st.Class, st.Mask, st.Dice, st.MPClass, st.MPMask, st.MPDice}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// WriteParity runs the forward and backward of training step `step` of a
// trainer with seed `seed` on batch with TrainStep's own code (the same
// random draws, gradient slots and summation order) but without clipping
// or the optimiser update, and writes to path:
//
//	meta.json               model config under "model"; extra.parity: batch
//	                        size, seed, step, batch loss, loss field names
//	param/<name>            the parameters (the model is unchanged)
//	grad/<name>             Σ over images of the gradients, before clipping
//	norms                   [numMasks, ceDen, mpCeDen, maxGT] (batch-wide)
//	img<i>/input            [3, S, S] in [0, 1]
//	img<i>/classes          [G]
//	img<i>/cover4           [G, S/4, S/4] stride-4 coverage targets
//	img<i>/segmap           [S, S]: k+1 on GT segment k, 0 elsewhere
//	img<i>/match            [stages, G]: the query matched to GT g at
//	                        each stage (the Hungarian matching the Go
//	                        criterion used), −1 if none
//	img<i>/loss             [7] LossFields; img<i>/stage_loss [stages]
//	img<i>/attn/<l>         [Q, h, w] 1 = blocked: the cross-attention
//	                        mask layer l used (after pilots and unblocking;
//	                        masked decoder only)
//	img<i>/mp/labels        [P] MP input labels (−1 padding)   (mpformer)
//	img<i>/mp/self          [Q, Q] self-attention mask, 1 = blocked
//	img<i>/mp/pilot/<l>     [P, h, w] pilot mask of layer l, 1 = blocked
//	                        (only piloted layers)
//	img<i>/mp/noise/point/<l> [P, h, w] the uniform draws of layer l's
//	                        point noise (−1: padding slot)  (mp.noise point)
//	img<i>/mp/noise/shift   [P, 2] the two draws of each slot's shift (−1:
//	                        padding)                        (mp.noise shift)
//	img<i>/mp/noise/scale   [P] the draw of each slot's scale decision
//	                        (−1: padding)                   (mp.noise scale)
//	img<i>/pts/match        [stages, K, 2] the uniform matching points
//	                        (x, y) of each stage            (loss.points K > 0)
//	img<i>/pts/pairs        [n, 4] (stage, 1 if MP slot else 0, query or
//	                        slot, GT) of each pair's loss points, in draw order
//	img<i>/pts/candidates   [n, ⌊oversample·K⌋, 2] the oversampled uniform
//	                        points of each pair
//	img<i>/pts/random       [n, K − ⌊βK⌋, 2] the fresh uniform points
//	img<i>/pts/chosen       [n, K, 2] the points Go used (the most uncertain
//	                        ⌊βK⌋ candidates, then the fresh ones)
//
// Q counts all rows, the P MP rows first. It returns the record, or an
// error on a non-finite loss or a failed write.
func WriteParity(path string, m *model.Model, batch []*model.Example, seed uint64, step int) (*ParityRecord, error) {
	c := &m.Cfg
	norms := model.ComputeNorms(c, batch)
	ck := ckpt.New()
	ck.Meta.ToolVersion = version.String()
	ck.Meta.Model = c.MarshalIndent()
	ck.Meta.Step = int64(step)
	ck.PutParams(ckpt.ParamPrefix, m.Params())
	ck.Arrays["norms"] = ckpt.Array{Shape: []int{4}, Data: []float32{
		float32(norms.NumMasks), float32(norms.CEDen), float32(norms.MPCEDen), float32(norms.MaxGT)}}
	rec := &ParityRecord{Images: make([]model.LossStats, len(batch)), Grads: map[string][]float32{}}
	pw := &parityWriter{ck: ck, m: m}
	// the forward and backward of TrainStep itself (same draws, same
	// gradient slots and summation order), without clipping or update
	tr := &model.Trainer{M: m, Cfg: model.TrainConfig{Seed: seed}}
	stats, err := tr.Gradients(batch, step, pw.observe)
	if err != nil {
		return nil, fmt.Errorf("torchref: parity: %w", err)
	}
	for i, st := range stats {
		rec.Images[i] = st
		rec.Loss += st.Total
	}
	for _, p := range m.Params() {
		sum := slices.Clone(p.Grad)
		rec.Grads[p.Name] = sum
		ck.Arrays["grad/"+p.Name] = ckpt.Array{Shape: slices.Clone(p.Shape), Data: sum}
	}
	extra, err := json.Marshal(map[string]any{
		"batch": len(batch), "seed": seed, "step": step, "loss": rec.Loss, "loss_fields": LossFields,
	})
	if err != nil {
		return nil, err
	}
	ck.Meta.Extra = map[string]json.RawMessage{"parity": extra}
	if err := ckpt.Save(path, ck); err != nil {
		return nil, err
	}
	return rec, nil
}

// parityWriter puts what a training step saw of each image into the
// parity file, as the trainer's observer (WriteParity).
type parityWriter struct {
	ck *ckpt.Checkpoint
	m  *model.Model
	mu sync.Mutex // the observer runs on the gradient slots' goroutines
}

// observe records one image: its inputs and GT, the matchings, losses and
// attention masks of every stage, the sampled points and the MP part.
func (pw *parityWriter) observe(is *model.ImageStep) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pre := fmt.Sprintf("img%d/", is.Slot)
	put := func(name string, data []float32, shape ...int) {
		pw.ck.Arrays[pre+name] = ckpt.Array{Shape: shape, Data: data}
	}
	pw.putImage(is, put)
	if is.Points != nil {
		putPoints(is.Points, pw.m.Cfg.Loss.Points, put)
	}
	if is.MPLabels != nil {
		pw.putMP(is, put)
	}
}

// putFunc stores one array of the image being recorded.
type putFunc func(name string, data []float32, shape ...int)

// putImage records the image's input, GT, matchings, losses and the
// attention masks of every stage.
func (pw *parityWriter) putImage(is *model.ImageStep, put putFunc) {
	ex, stages, st := is.Example, is.Stages, is.Loss
	S := pw.m.Cfg.ImageSize
	h4, w4 := pw.m.MaskSize()
	G := len(ex.Classes)
	put("input", slices.Clone(ex.Input), 3, S, S)
	put("classes", intsF32(ex.Classes), G)
	cov := make([]float32, 0, G*h4*w4)
	for _, cv := range ex.Cover4 {
		cov = append(cov, cv...)
	}
	put("cover4", cov, G, h4, w4)
	put("segmap", segmentMap(ex, S), S, S)
	mt := make([]float32, 0, len(stages)*G)
	for _, ms := range st.Matches {
		if len(ms) != G { // no GT: no matching
			ms = slices.Repeat([]int{-1}, G)
		}
		mt = append(mt, intsF32(ms)...)
	}
	put("match", mt, len(stages), G)
	put("loss", lossVector(st), len(LossFields))
	put("stage_loss", f64sF32(st.PerStage), len(st.PerStage))
	for l, so := range stages {
		if so.AttnMask != nil {
			put(fmt.Sprintf("attn/%d", l), boolsF32(so.AttnMask), len(so.AttnMask)/(so.AttnH*so.AttnW), so.AttnH, so.AttnW)
		}
	}
}

// putPoints records the criterion's sampled points: the K matching points
// of every stage and, per (stage, row, GT) pair, the candidates, the
// random points and the chosen loss points.
func putPoints(pd *model.PointDraws, K int, put putFunc) {
	var match []float32
	for _, p := range pd.Match {
		match = append(match, p...)
	}
	put("pts/match", match, len(pd.Match), K, 2)
	n := len(pd.Pairs)
	var pairs, cand, rnd, chosen []float32
	for _, pp := range pd.Pairs {
		mp := 0
		if pp.MP {
			mp = 1
		}
		pairs = append(pairs, intsF32([]int{pp.Stage, mp, pp.Row, pp.GT})...)
		cand = append(cand, pp.Candidates...)
		rnd = append(rnd, pp.Random...)
		chosen = append(chosen, pp.Chosen...)
	}
	if n > 0 {
		put("pts/pairs", pairs, n, 4)
		put("pts/candidates", cand, n, len(pd.Pairs[0].Candidates)/2, 2)
		put("pts/random", rnd, n, len(pd.Pairs[0].Random)/2, 2)
		put("pts/chosen", chosen, n, K, 2)
	}
}

// putMP records the MP part: the noise draws, the input labels, the
// self-attention mask and every layer's pilots.
func (pw *parityWriter) putMP(is *model.ImageStep, put putFunc) {
	levels := pw.m.LevelSizes()
	P := len(is.MPLabels)
	if nd := is.MPNoise; nd != nil {
		for l, d := range nd.Point {
			if d != nil {
				h, w := levels[l%3][0], levels[l%3][1]
				put(fmt.Sprintf("mp/noise/point/%d", l), f64sF32(d), P, h, w)
			}
		}
		if nd.Shift != nil {
			put("mp/noise/shift", f64sF32(nd.Shift), P, 2)
		}
		if nd.Scale != nil {
			put("mp/noise/scale", f64sF32(nd.Scale), P)
		}
	}
	Q := P + pw.m.Cfg.Queries
	put("mp/labels", intsF32(is.MPLabels), P)
	put("mp/self", boolsF32(is.MPSelfMask), Q, Q)
	for l, pl := range is.MPPilots {
		if pl != nil {
			h, w := levels[l%3][0], levels[l%3][1]
			put(fmt.Sprintf("mp/pilot/%d", l), boolsF32(pl), P, h, w)
		}
	}
}

// TorchBench describes a speed race for model/torchref/bench.py.
type TorchBench struct {
	// Train is the optimisation both sides run (AdamW, clipping, LRs by
	// step from the schedule).
	Train model.TrainConfig
	// Batches are the batches of steps 0, 1, …; both sides train on them
	// in this order.
	Batches [][]*model.Example
}

// WriteTorchBench writes m's current parameters (the common starting
// point) and the race's batches to path:
//
//	meta.json             model config under "model", training config
//	                      under "train"; extra.bench: steps, batch, the
//	                      learning rate of each step, the NoDecay
//	                      parameter names
//	param/<name>          the parameters
//	step<s>/img<i>/…      input, classes, cover4, segmap as in WriteParity
func WriteTorchBench(path string, m *model.Model, b *TorchBench) error {
	c := &m.Cfg
	h4, w4 := m.MaskSize()
	S := c.ImageSize
	ck := ckpt.New()
	ck.Meta.ToolVersion = version.String()
	ck.Meta.Model = c.MarshalIndent()
	tc, err := json.Marshal(b.Train)
	if err != nil {
		return err
	}
	ck.Meta.Train = tc
	ck.PutParams(ckpt.ParamPrefix, m.Params())
	lrs := make([]float64, len(b.Batches))
	for s, batch := range b.Batches {
		lrs[s] = b.Train.Schedule.LR(s)
		for i, ex := range batch {
			pre := fmt.Sprintf("step%d/img%d/", s, i)
			G := len(ex.Classes)
			if len(ex.Input) != 3*S*S {
				return fmt.Errorf("torchref: bench: step %d image %d has %d input values, want 3×%d×%d", s, i, len(ex.Input), S, S)
			}
			cov := make([]float32, 0, G*h4*w4)
			for _, cv := range ex.Cover4 {
				cov = append(cov, cv...)
			}
			ck.Arrays[pre+"input"] = ckpt.Array{Shape: []int{3, S, S}, Data: slices.Clone(ex.Input)}
			ck.Arrays[pre+"classes"] = ckpt.Array{Shape: []int{G}, Data: intsF32(ex.Classes)}
			ck.Arrays[pre+"cover4"] = ckpt.Array{Shape: []int{G, h4, w4}, Data: cov}
			ck.Arrays[pre+"segmap"] = ckpt.Array{Shape: []int{S, S}, Data: segmentMap(ex, S)}
		}
	}
	var noDecay []string
	for _, p := range m.Params() {
		if p.NoDecay {
			noDecay = append(noDecay, p.Name)
		}
	}
	batch := 0
	if len(b.Batches) > 0 {
		batch = len(b.Batches[0])
	}
	extra, err := json.Marshal(map[string]any{
		"steps": len(b.Batches), "batch": batch, "lr": lrs, "no_decay": noDecay,
	})
	if err != nil {
		return err
	}
	ck.Meta.Extra = map[string]json.RawMessage{"bench": extra}
	return ckpt.Save(path, ck)
}

// segmentMap is the S×S map with k+1 on GT segment k (segments never
// overlap) and 0 elsewhere.
func segmentMap(ex *model.Example, S int) []float32 {
	out := make([]float32, S*S)
	for k, msk := range ex.Full {
		if msk.H != S || msk.W != S {
			panic(fmt.Sprintf("torchref: GT mask %d is %d×%d, want %d×%d", k, msk.H, msk.W, S, S))
		}
		for i := range out {
			if msk.Get(i) {
				out[i] = float32(k + 1)
			}
		}
	}
	return out
}

func intsF32(v []int) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func f64sF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func boolsF32(v []bool) []float32 {
	out := make([]float32, len(v))
	for i, b := range v {
		if b {
			out[i] = 1
		}
	}
	return out
}
