package engine

import (
	"fmt"
	"math"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
)

// CrossEntropy is softmax cross-entropy of logits [N, C] against class
// targets (len N), with optional per-class weights (nil = all 1), reduced
// with PyTorch's weighted mean:
//
//	loss = Σ_i w[y_i]·(−log softmax(x_i)[y_i]) / Σ_i w[y_i]
//
// A negative target is ignored (contributes to neither sum). If every
// target is ignored (or has weight 0) the loss is 0.
//
// Backward: dx_i = G·w[y_i]/Σw·(softmax(x_i) − onehot(y_i)).
func (g *Graph[T]) CrossEntropy(logits *Tensor[T], targets []int, weights []T) *Tensor[T] {
	return g.crossEntropy(logits, targets, weights, true)
}

// CrossEntropySum is CrossEntropy's numerator, Σ_i w[y_i]·nll_i, without
// the division by Σ w: for losses whose weighted mean spans several graphs
// (Mask2Former averages over the whole batch), the caller scales by the
// batch's Σ w. Backward: dx_i = G·w[y_i]·(softmax(x_i) − onehot(y_i)).
func (g *Graph[T]) CrossEntropySum(logits *Tensor[T], targets []int, weights []T) *Tensor[T] {
	return g.crossEntropy(logits, targets, weights, false)
}

func (g *Graph[T]) crossEntropy(logits *Tensor[T], targets []int, weights []T, mean bool) *Tensor[T] {
	if logits.Dims() != 2 || logits.Shape[0] != len(targets) || (weights != nil && len(weights) != logits.Shape[1]) {
		shapePanic("CrossEntropy", logits.Shape, []int{len(targets)}, []int{len(weights)})
	}
	N, C := logits.Shape[0], logits.Shape[1]
	prob := g.allocRaw(N * C)
	var num, den float64
	for i := 0; i < N; i++ {
		y := targets[i]
		if y >= C {
			panic(fmt.Sprintf("engine: CrossEntropy target %d out of range [0,%d)", y, C))
		}
		xs, ps := logits.Data[i*C:(i+1)*C], prob[i*C:(i+1)*C]
		mx := xs[0]
		for _, v := range xs {
			mx = max(mx, v)
		}
		var s float64
		for j, v := range xs {
			e := math.Exp(float64(v - mx))
			ps[j] = T(e)
			s += e
		}
		for j := range ps {
			ps[j] = T(float64(ps[j]) / s)
		}
		if y < 0 {
			continue
		}
		w := 1.0
		if weights != nil {
			w = float64(weights[y])
		}
		nll := -(float64(xs[y]-mx) - math.Log(s))
		num += w * nll
		den += w
	}
	if !mean {
		den = 1
	}
	out := g.newTensor([]int{1}, g.needs(logits))
	if den > 0 {
		out.Data[0] = T(num / den)
	} else {
		out.Data[0] = 0
	}
	if out.requiresGrad && den > 0 {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			dx := g.grad(logits)
			scale := float64(out.Grad[0]) / den
			for i := 0; i < N; i++ {
				y := targets[i]
				if y < 0 {
					continue
				}
				w := 1.0
				if weights != nil {
					w = float64(weights[y])
				}
				f := T(scale * w)
				ps, ds := prob[i*C:(i+1)*C], dx[i*C:(i+1)*C]
				for j, p := range ps {
					ds[j] += f * p
				}
				ds[y] -= f
			}
		})
	}
	return out
}

// BCEWithLogits is the sigmoid binary cross-entropy of logits [R, P]
// against targets of the same shape (values in [0, 1], no gradient),
// averaged over the last axis: out [R] with
//
//	out_r = 1/P · Σ_p softplus(x) − x·t  (= −t·log σ(x) − (1−t)·log(1−σ(x)))
//
// Backward: dx = G_r/P·(σ(x) − t).
func (g *Graph[T]) BCEWithLogits(logits *Tensor[T], targets []T) *Tensor[T] {
	if logits.Dims() != 2 {
		shapePanic("BCEWithLogits", logits.Shape)
	}
	checkLen("BCEWithLogits", "targets", len(targets), len(logits.Data))
	R, P := logits.Shape[0], logits.Shape[1]
	out := g.newTensor([]int{R}, g.needs(logits))
	// softplus(x) for the loss and, when a backward pass may follow, σ(x)
	// for it, both from one exponential per element
	sp := g.allocRaw(R * P)
	var sig []T
	if out.requiresGrad {
		sig = g.allocRaw(R * P)
		sigmoidSoftplusT(sig, sp, logits.Data)
	} else {
		softplusT(sp, logits.Data)
	}
	for r := 0; r < R; r++ {
		var s float64
		xs, ts, sps := logits.Data[r*P:(r+1)*P], targets[r*P:(r+1)*P], sp[r*P:(r+1)*P]
		for p, x := range xs {
			s += float64(sps[p]) - float64(x)*float64(ts[p])
		}
		out.Data[r] = T(s / float64(P))
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			dx := g.grad(logits)
			for r := 0; r < R; r++ {
				f := out.Grad[r] / T(P)
				ss, ts, ds := sig[r*P:(r+1)*P], targets[r*P:(r+1)*P], dx[r*P:(r+1)*P]
				for p, s := range ss {
					ds[p] += f * (s - ts[p])
				}
			}
		})
	}
	return out
}

// softplusT sets dst[i] = softplus(src[i]) (float32: the vector kernels of
// internal/fmath).
func softplusT[T Float](dst, src []T) {
	if s32, ok := any(src).([]float32); ok {
		fmath.SoftplusSlice(any(dst).([]float32)[:len(s32)], s32)
		return
	}
	for i, v := range src {
		dst[i] = softplus(v)
	}
}

// sigmoidSoftplusT sets sig[i] = σ(src[i]) and sp[i] = softplus(src[i])
// (float32: one vector exponential per element, internal/fmath).
func sigmoidSoftplusT[T Float](sig, sp, src []T) {
	if s32, ok := any(src).([]float32); ok {
		fmath.SigmoidSoftplusSlice(any(sig).([]float32)[:len(s32)], any(sp).([]float32)[:len(s32)], s32)
		return
	}
	for i, v := range src {
		sig[i], sp[i] = sigmoid(v), softplus(v)
	}
}

// DiceLoss is Mask2Former's dice loss of logits [R, P] against targets of
// the same shape (no gradient), per row: out [R] with s = σ(x),
//
//	out_r = 1 − (2·Σ s·t + 1) / (Σ s + Σ t + 1)
//
// Backward, with a = 2Σst+1 and b = Σs+Σt+1:
// dx = −G_r·(2t·b − a)/b² · s(1−s).
func (g *Graph[T]) DiceLoss(logits *Tensor[T], targets []T) *Tensor[T] {
	if logits.Dims() != 2 {
		shapePanic("DiceLoss", logits.Shape)
	}
	checkLen("DiceLoss", "targets", len(targets), len(logits.Data))
	R, P := logits.Shape[0], logits.Shape[1]
	sig := g.allocRaw(R * P)
	Sigmoid(sig, logits.Data)
	num := g.alloc64(R)
	den := g.alloc64(R)
	out := g.newTensor([]int{R}, g.needs(logits))
	for r := 0; r < R; r++ {
		var st, ss, tt float64
		for p, s := range sig[r*P : (r+1)*P] {
			t := float64(targets[r*P+p])
			st += float64(s) * t
			ss += float64(s)
			tt += t
		}
		num[r], den[r] = 2*st+1, ss+tt+1
		out.Data[r] = T(1 - num[r]/den[r])
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			dx := g.grad(logits)
			for r := 0; r < R; r++ {
				a, b := num[r], den[r]
				f := -float64(out.Grad[r]) / (b * b)
				for p, s := range sig[r*P : (r+1)*P] {
					t := float64(targets[r*P+p])
					sv := float64(s)
					dx[r*P+p] += T(f * (2*t*b - a) * sv * (1 - sv))
				}
			}
		})
	}
	return out
}
