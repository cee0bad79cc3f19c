package model

import (
	"sort"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/model/engine"
)

// InferConfig holds the post-processing thresholds (docs/papers.md#inference).
type InferConfig struct {
	// ObjectThreshold: panoptic keeps queries whose top class is not "no
	// object" and whose probability exceeds it. Default 0.8.
	ObjectThreshold float64 `json:"object_threshold"`
	// OverlapThreshold: a panoptic segment is kept when the area it wins
	// in the argmax is at least this share of its own mask. Default 0.8.
	OverlapThreshold float64 `json:"overlap_threshold"`
	// TopK is the number of instance detections per image. Default 100.
	TopK int `json:"top_k"`
}

// DefaultInferConfig returns the official thresholds.
func DefaultInferConfig() InferConfig {
	return InferConfig{ObjectThreshold: 0.8, OverlapThreshold: 0.8, TopK: 100}
}

// Detection is one instance prediction.
type Detection struct {
	Class int        `json:"class"`
	Score float64    `json:"score"`
	Query int        `json:"query"`
	Mask  *mask.Bits `json:"-"`
}

// Segment is one panoptic segment.
type Segment struct {
	ID      int     `json:"id"`
	Class   int     `json:"class"`
	IsThing bool    `json:"isthing"`
	Score   float64 `json:"score"`
	Area    int     `json:"area"`
}

// Prediction holds the three outputs for one image: at the input size
// S×S as PostProcess makes it (H = W = Size), or in the image's own H×W
// frame after InFrame.
type Prediction struct {
	Size       int         // the model's input side S
	H, W       int         // the size of the maps and masks
	Semantic   []int32     // class per pixel
	Detections []Detection // sorted by score, descending
	Panoptic   []int32     // segment id per pixel, 0 = void
	Segments   []Segment
}

// upsampled returns the class probabilities [Q, K+1] and the mask
// probabilities [Q, S·S] (mask logits upsampled bilinearly to the input
// size, then sigmoid) of the matching queries, and the upsampled logits.
func (m *Model) upsampled(st StageOutput, numMP int) (prob, maskProb, maskLogit []float32, Q int) {
	c := &m.Cfg
	K1 := c.NumClasses + 1
	S := c.ImageSize
	Q = st.ClassLogits.Dim(0) - numMP
	prob = make([]float32, Q*K1)
	p64 := make([]float64, K1)
	for q := 0; q < Q; q++ {
		fmath.Softmax64(p64, st.ClassLogits.Data[(numMP+q)*K1:(numMP+q+1)*K1])
		for k, v := range p64 {
			prob[q*K1+k] = float32(v)
		}
	}
	hw4 := m.h4 * m.w4
	maskLogit = make([]float32, Q*S*S)
	engine.BilinearResize(maskLogit, st.MaskLogits.Data[numMP*hw4:], Q, m.h4, m.w4, S, S)
	maskProb = make([]float32, len(maskLogit))
	engine.Sigmoid(maskProb, maskLogit)
	return prob, maskProb, maskLogit, Q
}

// PostProcess turns the last stage of one image into semantic, instance
// and panoptic predictions at the input size, as Mask2Former's
// semantic_inference, instance_inference and panoptic_inference do:
//
//   - semantic: S[c, p] = Σ_q softmax(cls_q)[c]·σ(mask_q[p]) without the
//     no-object column; the prediction is argmax_c;
//   - instance: the top-k (query, class) pairs by class probability, the
//     binary mask logit > 0, the score class prob × mean mask
//     probability inside the mask; only thing classes are kept when the
//     config marks stuff classes;
//   - panoptic: queries whose top class is not "no object" with
//     probability > ObjectThreshold; pixels go to argmax_q score_q·σ(mask_q);
//     a segment survives when its won area is ≥ OverlapThreshold of its
//     own mask (σ ≥ 0.5); segments of the same stuff class are merged.
func (m *Model) PostProcess(st StageOutput, numMP int, ic InferConfig) *Prediction {
	S := m.Cfg.ImageSize
	prob, mp, ml, Q := m.upsampled(st, numMP)
	pred := &Prediction{Size: S, H: S, W: S}
	pred.Semantic = m.semanticInference(prob, mp, Q)
	pred.Detections = m.instanceInference(prob, mp, ml, Q, ic.TopK)
	pred.Panoptic, pred.Segments = m.panopticInference(prob, mp, Q, ic)
	return pred
}

// semanticInference is PostProcess's semantic map: per pixel p, argmax_c
// Σ_q prob[q, c]·mp[q, p] over the K classes (no-object column left out);
// prob and mp are upsampled's class and mask probabilities of Q queries.
func (m *Model) semanticInference(prob, mp []float32, Q int) []int32 {
	K := m.Cfg.NumClasses
	K1 := K + 1
	HW := m.Cfg.ImageSize * m.Cfg.ImageSize
	out := make([]int32, HW)
	sem := make([]float64, K)
	for p := 0; p < HW; p++ {
		clear(sem)
		for q := 0; q < Q; q++ {
			mv := float64(mp[q*HW+p])
			pq := prob[q*K1 : q*K1+K]
			for k, v := range pq {
				sem[k] += float64(v) * mv
			}
		}
		best := 0
		for k := 1; k < K; k++ {
			if sem[k] > sem[best] {
				best = k
			}
		}
		out[p] = int32(best)
	}
	return out
}

// instanceInference is PostProcess's detections: the topK (query, class)
// pairs by class probability (thing classes only when the config marks
// stuff classes), each with its binary mask (logit ml > 0) and score
// class probability × mean mask probability inside the mask, sorted by
// score, descending.
func (m *Model) instanceInference(prob, mp, ml []float32, Q, topK int) []Detection {
	c := &m.Cfg
	K := c.NumClasses
	K1 := K + 1
	S := c.ImageSize
	HW := S * S
	type cand struct {
		q, k int
		s    float32
	}
	cands := make([]cand, 0, Q*K)
	for q := 0; q < Q; q++ {
		for k := 0; k < K; k++ {
			cands = append(cands, cand{q, k, prob[q*K1+k]})
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].s > cands[b].s })
	topk := min(topK, len(cands))
	hasStuff := len(c.ThingClasses) > 0
	var dets []Detection
	for _, cd := range cands[:topk] {
		if hasStuff && !c.IsThing(cd.k) {
			continue
		}
		bin := mask.New(S, S)
		var sum float64
		var n int
		for p := 0; p < HW; p++ {
			if ml[cd.q*HW+p] > 0 {
				bin.Set(p, true)
				sum += float64(mp[cd.q*HW+p])
				n++
			}
		}
		score := float64(cd.s) * sum / (float64(n) + 1e-6)
		dets = append(dets, Detection{Class: cd.k, Score: score, Query: cd.q, Mask: bin})
	}
	sort.SliceStable(dets, func(a, b int) bool { return dets[a].Score > dets[b].Score })
	return dets
}

// panopticQueries returns the queries whose top class is not "no object"
// and has probability above threshold, with that probability and class.
func panopticQueries(prob []float32, Q, K1 int, threshold float64) (keep []int, kscore []float32, kclass []int) {
	for q := 0; q < Q; q++ {
		best := 0
		for k := 1; k < K1; k++ {
			if prob[q*K1+k] > prob[q*K1+best] {
				best = k
			}
		}
		if best != K1-1 && float64(prob[q*K1+best]) > threshold {
			keep = append(keep, q)
			kscore = append(kscore, prob[q*K1+best])
			kclass = append(kclass, best)
		}
	}
	return keep, kscore, kclass
}

// panopticInference is PostProcess's panoptic map (segment id per pixel,
// 0 = void) and segments: each pixel goes to the kept query (see
// panopticQueries) with the highest score × mask probability; a query's
// segment survives when the area it wins (where its mask probability is
// ≥ 0.5) is at least OverlapThreshold of its own mask; segments of one
// stuff class share an id.
func (m *Model) panopticInference(prob, mp []float32, Q int, ic InferConfig) ([]int32, []Segment) {
	c := &m.Cfg
	K1 := c.NumClasses + 1
	HW := c.ImageSize * c.ImageSize
	pan := make([]int32, HW)
	keep, kscore, kclass := panopticQueries(prob, Q, K1, ic.ObjectThreshold)
	if len(keep) == 0 {
		return pan, nil
	}
	owner := make([]int, HW)
	for p := 0; p < HW; p++ {
		bi, bv := 0, float32(-1)
		for i, q := range keep {
			if v := kscore[i] * mp[q*HW+p]; v > bv {
				bi, bv = i, v
			}
		}
		owner[p] = bi
	}
	var segs []Segment
	stuffID := map[int]int{}
	nextID := 0
	for i, q := range keep {
		var area, orig, both int
		for p := 0; p < HW; p++ {
			mine := owner[p] == i
			hi := mp[q*HW+p] >= 0.5
			if mine {
				area++
			}
			if hi {
				orig++
			}
			if mine && hi {
				both++
			}
		}
		if area == 0 || orig == 0 || both == 0 || float64(area)/float64(orig) < ic.OverlapThreshold {
			continue
		}
		cls := kclass[i]
		thing := c.IsThing(cls)
		id := 0
		if !thing {
			if sid, ok := stuffID[cls]; ok {
				id = sid
			}
		}
		if id == 0 {
			nextID++
			id = nextID
			if !thing {
				stuffID[cls] = id
			}
			segs = append(segs, Segment{ID: id, Class: cls, IsThing: thing, Score: float64(kscore[i])})
		}
		for p := 0; p < HW; p++ {
			if owner[p] == i && mp[q*HW+p] >= 0.5 {
				pan[p] = int32(id)
			}
		}
	}
	for p := 0; p < HW; p++ {
		if id := pan[p]; id > 0 {
			segs[id-1].Area++
		}
	}
	return pan, segs
}
