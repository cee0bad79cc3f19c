package engine

import (
	"math"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
)

// broadcast describes numpy-style broadcasting of two shapes: shapes are
// aligned at the right, and a dimension of 1 (or a missing one) repeats.
type broadcast struct {
	out    []int
	sa, sb []int // strides of a and b per output dim; 0 where broadcast
}

func newBroadcast(op string, a, b []int) broadcast {
	n := max(len(a), len(b))
	bc := broadcast{out: make([]int, n), sa: make([]int, n), sb: make([]int, n)}
	stA, stB := 1, 1
	for i := n - 1; i >= 0; i-- {
		da, db := 1, 1
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			bc.out[i] = da
		case da == 1:
			bc.out[i] = db
		case db == 1:
			bc.out[i] = da
		default:
			shapePanic(op, a, b)
		}
		if da != 1 {
			bc.sa[i] = stA
		}
		if db != 1 {
			bc.sb[i] = stB
		}
		stA *= da
		stB *= db
	}
	return bc
}

// each calls f for every innermost run of the output: out offset o, input
// offsets ia and ib, run length n and inner strides sa, sb (0 or 1).
func (bc broadcast) each(f func(o, ia, ib, n, sa, sb int)) {
	nd := len(bc.out)
	if nd == 0 {
		f(0, 0, 0, 1, 0, 0)
		return
	}
	inner := bc.out[nd-1]
	if inner == 0 {
		return
	}
	isa, isb := bc.sa[nd-1], bc.sb[nd-1]
	total := NumElems(bc.out)
	idx := make([]int, nd-1)
	ia, ib := 0, 0
	for o := 0; o < total; o += inner {
		f(o, ia, ib, inner, isa, isb)
		// advance the outer multi-index
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			ia += bc.sa[d]
			ib += bc.sb[d]
			if idx[d] < bc.out[d] {
				break
			}
			ia -= bc.sa[d] * bc.out[d]
			ib -= bc.sb[d] * bc.out[d]
			idx[d] = 0
		}
	}
}

type binOp int

const (
	opAdd binOp = iota
	opSub
	opMul
	opDiv
)

var binNames = [...]string{"Add", "Sub", "Mul", "Div"}

// Add returns a + b with broadcasting. Backward: da += G, db += G (each
// summed over the dims it was broadcast along).
func (g *Graph[T]) Add(a, b *Tensor[T]) *Tensor[T] { return g.binary(opAdd, a, b) }

// Sub returns a − b with broadcasting. Backward: da += G, db −= G.
func (g *Graph[T]) Sub(a, b *Tensor[T]) *Tensor[T] { return g.binary(opSub, a, b) }

// Mul returns a ⊙ b with broadcasting. Backward: da += G⊙b, db += G⊙a.
func (g *Graph[T]) Mul(a, b *Tensor[T]) *Tensor[T] { return g.binary(opMul, a, b) }

// Div returns a / b with broadcasting. Backward: da += G/b, db −= G⊙a/b².
func (g *Graph[T]) Div(a, b *Tensor[T]) *Tensor[T] { return g.binary(opDiv, a, b) }

func (g *Graph[T]) binary(op binOp, a, b *Tensor[T]) *Tensor[T] {
	var bc broadcast
	same := sameShape(a.Shape, b.Shape)
	if same {
		bc = broadcast{out: a.Shape}
	} else {
		bc = newBroadcast(binNames[op], a.Shape, b.Shape)
	}
	out := g.newTensor(bc.out, g.needs(a, b))
	A, B, O := a.Data, b.Data, out.Data
	if op == opAdd && !same && len(b.Data) > 0 && tiles(a.Shape, b.Shape) {
		return g.addTiled(a, b, out)
	}
	if same {
		binarySame(op, A, B, O)
	} else {
		bc.each(func(o, ia, ib, n, sa, sb int) {
			binaryRun(op, A, B, O, o, ia, ib, n, sa, sb)
		})
	}
	if out.requiresGrad {
		g.push(func() {
			G := out.Grad
			if G == nil {
				return
			}
			if same && (op == opAdd || op == opSub) {
				// whole-slice passes (vector kernels for float32); per
				// element the same additions in the same order, also when
				// a and b are one tensor (a may take G itself, which b's
				// part then reads unchanged, or adds to when b is a)
				if a.requiresGrad {
					g.passGrad(a, G)
				}
				if b.requiresGrad {
					if op == opAdd {
						g.addGrad(b, 1, G)
					} else {
						g.addGrad(b, -1, G) // dB + (−1·G) == dB − G exactly
					}
				}
				return
			}
			dA, dB := g.gradIf(a), g.gradIf(b)
			run := func(o, ia, ib, n, sa, sb int) {
				binaryGradRun(op, G, A, B, dA, dB, o, ia, ib, n, sa, sb)
			}
			switch {
			case same:
				run(0, 0, 0, len(G), 1, 1)
			default:
				bc.each(run)
			}
		})
	}
	return out
}

// tiles reports whether b's shape, without leading 1s, is the trailing
// dims of a's (b repeats over a's leading dims, as positional embeddings
// over a batch or a level embedding [1, D] over every token).
func tiles(a, b []int) bool {
	for len(b) > 1 && b[0] == 1 {
		b = b[1:]
	}
	return len(b) > 0 && len(b) < len(a) && sameShape(a[len(a)-len(b):], b)
}

// addTiled is Add for a b that tiles a (see tiles): per block of a, the
// same-shape kernels; b's gradient is G's blocks added in block order,
// each element's additions in the order of the broadcast path.
func (g *Graph[T]) addTiled(a, b, out *Tensor[T]) *Tensor[T] {
	n := len(b.Data)
	for o := 0; o < len(out.Data); o += n {
		binarySame(opAdd, a.Data[o:o+n], b.Data, out.Data[o:o+n])
	}
	if out.requiresGrad {
		g.push(func() {
			G := out.Grad
			if G == nil {
				return
			}
			if b.requiresGrad { // before a, which may take G itself
				g.addGrad(b, 1, G[:n])
				addRows(b.Grad, G[n:], len(G)/n-1, n)
			}
			if a.requiresGrad {
				g.passGrad(a, G)
			}
		})
	}
	return out
}

// binarySame is the forward pass of op on operands of the same shape:
// O[i] = A[i] op B[i].
func binarySame[T Float](op binOp, A, B, O []T) {
	switch op {
	case opAdd:
		if o32, ok := any(O).([]float32); ok && len(O) > 0 {
			// the same one addition per element, by the vector kernel
			fmath.Sum(o32, any(A).([]float32)[:len(O)], any(B).([]float32)[:len(O)])
			return
		}
		for i := range O {
			O[i] = A[i] + B[i]
		}
	case opSub:
		for i := range O {
			O[i] = A[i] - B[i]
		}
	case opMul:
		for i := range O {
			O[i] = A[i] * B[i]
		}
	case opDiv:
		for i := range O {
			O[i] = A[i] / B[i]
		}
	}
}

// binaryRun is the forward pass of op on one run of a broadcast (see
// broadcast.each): n outputs from O[o], the operands from A[ia] and B[ib]
// with strides sa and sb.
func binaryRun[T Float](op binOp, A, B, O []T, o, ia, ib, n, sa, sb int) {
	for j := 0; j < n; j++ {
		x, y := A[ia+j*sa], B[ib+j*sb]
		switch op {
		case opAdd:
			O[o+j] = x + y
		case opSub:
			O[o+j] = x - y
		case opMul:
			O[o+j] = x * y
		case opDiv:
			O[o+j] = x / y
		}
	}
}

// binaryGradRun is the backward pass of op on one run (as binaryRun): it
// adds the output gradient G's share to dA and dB (each skipped when nil).
func binaryGradRun[T Float](op binOp, G, A, B, dA, dB []T, o, ia, ib, n, sa, sb int) {
	for j := 0; j < n; j++ {
		gv := G[o+j]
		x, y := A[ia+j*sa], B[ib+j*sb]
		switch op {
		case opAdd:
			if dA != nil {
				dA[ia+j*sa] += gv
			}
			if dB != nil {
				dB[ib+j*sb] += gv
			}
		case opSub:
			if dA != nil {
				dA[ia+j*sa] += gv
			}
			if dB != nil {
				dB[ib+j*sb] -= gv
			}
		case opMul:
			if dA != nil {
				dA[ia+j*sa] += gv * y
			}
			if dB != nil {
				dB[ib+j*sb] += gv * x
			}
		case opDiv:
			if dA != nil {
				dA[ia+j*sa] += gv / y
			}
			if dB != nil {
				dB[ib+j*sb] -= gv * x / (y * y)
			}
		}
	}
}

// Scale returns s·a. Backward: da += s·G.
func (g *Graph[T]) Scale(a *Tensor[T], s T) *Tensor[T] {
	out := g.newTensor(a.Shape, g.needs(a))
	for i, v := range a.Data {
		out.Data[i] = s * v
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad != nil {
				g.addGrad(a, s, out.Grad)
			}
		})
	}
	return out
}

// AddScalar returns a + s. Backward: da += G.
func (g *Graph[T]) AddScalar(a *Tensor[T], s T) *Tensor[T] {
	out := g.newTensor(a.Shape, g.needs(a))
	for i, v := range a.Data {
		out.Data[i] = v + s
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad != nil {
				g.passGrad(a, out.Grad)
			}
		})
	}
	return out
}

// ReLU returns max(a, 0). Backward: da += G where a > 0.
func (g *Graph[T]) ReLU(a *Tensor[T]) *Tensor[T] {
	out := g.newTensor(a.Shape, g.needs(a))
	if o32, ok := any(out.Data).([]float32); ok {
		fmath.ReLU(o32, any(a.Data).([]float32)) // the bits of the loop below
	} else {
		for i, v := range a.Data {
			out.Data[i] = max(v, 0)
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			da, fresh := g.gradNew(a)
			reluBackward(da, a.Data, out.Grad, fresh)
		})
	}
	return out
}

// reluBackward sets da[i] += G[i] where x[i] > 0 (with set, da[i] = G[i]
// there and +0 elsewhere: a new buffer). The float32 version
// has no branch on the sign (which is unpredictable): fmath.ReLUGrad masks
// G[i] with the comparison (x > 0, false for NaN), so elsewhere it adds +0.
func reluBackward[T Float](da, x, G []T, set bool) {
	if d32, ok := any(da).([]float32); ok {
		x32, G32 := any(x).([]float32)[:len(d32)], any(G).([]float32)[:len(d32)]
		if set {
			fmath.ReLUGradSet(d32, x32, G32)
		} else {
			fmath.ReLUGrad(d32, x32, G32)
		}
		return
	}
	for i, v := range x {
		switch {
		case set && v > 0:
			da[i] = G[i]
		case set:
			da[i] = 0
		case v > 0:
			da[i] += G[i]
		}
	}
}

// GELU returns the exact (erf) GELU, PyTorch's default:
// x·Φ(x) = x/2·(1 + erf(x/√2)).
// Backward: da += G·(Φ(x) + x·φ(x)), φ the standard normal density.
func (g *Graph[T]) GELU(a *Tensor[T]) *Tensor[T] {
	out := g.newTensor(a.Shape, g.needs(a))
	for i, v := range a.Data {
		x := float64(v)
		out.Data[i] = T(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			da := g.grad(a)
			for i, v := range a.Data {
				x := float64(v)
				cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
				pdf := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
				da[i] += out.Grad[i] * T(cdf+x*pdf)
			}
		})
	}
	return out
}

// Sigmoid returns 1/(1+e^−a). Backward: da += G·σ·(1−σ).
func (g *Graph[T]) Sigmoid(a *Tensor[T]) *Tensor[T] {
	out := g.newTensor(a.Shape, g.needs(a))
	Sigmoid(out.Data, a.Data)
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			da := g.grad(a)
			for i, s := range out.Data {
				da[i] += out.Grad[i] * s * (1 - s)
			}
		})
	}
	return out
}

// sigmoid is the logistic function, stable for large |x|. float32 uses
// internal/fmath (a few ulps), float64 the math package (gradient checks).
func sigmoid[T Float](x T) T {
	if v, ok := any(x).(float32); ok {
		return T(fmath.Sigmoid(v))
	}
	if x >= 0 {
		return 1 / (1 + T(math.Exp(float64(-x))))
	}
	e := T(math.Exp(float64(x)))
	return e / (1 + e)
}

// expT is e^x in the element type (fmath for float32).
func expT[T Float](x T) T {
	if v, ok := any(x).(float32); ok {
		return T(fmath.Exp(v))
	}
	return T(math.Exp(float64(x)))
}

// softplus is ln(1+e^x), stable for large |x|.
func softplus[T Float](x T) T {
	if v, ok := any(x).(float32); ok {
		return T(fmath.Softplus(v))
	}
	if x > 0 {
		return x + T(math.Log1p(math.Exp(-float64(x))))
	}
	return T(math.Log1p(math.Exp(float64(x))))
}

// Sigmoid applies the logistic function elementwise outside any graph
// (float32: the vector kernels of internal/fmath).
func Sigmoid[T Float](dst, src []T) {
	if s32, ok := any(src).([]float32); ok {
		fmath.SigmoidSlice(any(dst).([]float32)[:len(s32)], s32)
		return
	}
	for i, v := range src {
		dst[i] = sigmoid(v)
	}
}
