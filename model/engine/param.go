package engine

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// Param is a trainable parameter: its values, its accumulated gradient and
// the optimiser's per-parameter settings. A Param lives across steps; a
// Graph binds it for one forward/backward pass with Graph.Param, and the
// gradient of that pass is added to Grad by Graph.AccumulateParamGrads.
type Param[T Float] struct {
	// Name is unique within a model ("decoder.layers.3.cross.q.weight").
	// Checkpoints store parameters under their names.
	Name  string
	Shape []int
	Data  []T
	// Grad has the length of Data. Optimisers read it and the trainer
	// zeroes it after each update.
	Grad []T
	// NoDecay exempts the parameter from weight decay (norms, embeddings,
	// biases, as the official Mask2Former configs do).
	NoDecay bool
	// LRMult multiplies the learning rate for this parameter (the official
	// configs use 0.1 for the backbone). 0 is read as 1.
	LRMult float64
	// dataT is Data transposed while frozen (FreezeTransposed), else nil;
	// tbuf keeps its storage between freezes.
	dataT, tbuf []T
	// converted points at conv, Linear's right operands as the GEMM reads
	// them, while frozen (FreezeConverted), else nil; conv keeps their
	// storage between freezes.
	converted *[2]*gemm.Prepared
	conv      [2]*gemm.Prepared
	// taps points at tapStore, a 3×3 kernel's tap-major orders, while
	// frozen (FreezeConverted), else nil; tapStore and tapBuf keep their
	// storage between freezes.
	taps     *kernelTaps
	tapStore kernelTaps
	tapBuf   [2][]float32
}

// kernelTaps is a 3×3 kernel [O, C, 3, 3] in the tap-major orders of its
// implicit convolutions, w[0] for the forward (tapMajorWeights) and w[1]
// for the input gradient (flipTapMajor), nil where the channels do not
// allow it (tapMajor), and each as the GEMM reads a left operand
// (gemm.PrepareLeft), so that a convolution over several images converts
// its kernel once.
type kernelTaps struct {
	w    [2][]float32
	conv [2]*gemm.Prepared
}

// set makes order i of the kernel w [O, C, 3, 3] in dst — tapMajorWeights
// for the forward (i = 0), flipTapMajor for the input gradient (i = 1) —
// and converts it (prepare).
func (k *kernelTaps) set(i int, dst, w []float32, O, C int) {
	k.w[i] = dst
	if i == 0 {
		tapMajorWeights(dst, w, O, C)
		k.prepare(0, O)
		return
	}
	flipTapMajor(dst, w, O, C)
	k.prepare(1, C)
}

// prepare sets conv[i] to w[i] converted (reusing the old conv[i]), or
// nil where w[i] is nil or empty (no channels on either side).
func (k *kernelTaps) prepare(i, rows int) {
	if len(k.w[i]) == 0 || rows == 0 {
		if k.conv[i] != nil {
			k.conv[i].Release()
			k.conv[i] = nil
		}
		return
	}
	k.conv[i] = gemm.PrepareLeft(k.conv[i], rows, len(k.w[i])/rows, k.w[i], len(k.w[i])/rows)
}

// release returns conv's buffers (a kernelTaps made for one call).
func (k *kernelTaps) release() {
	for _, c := range k.conv {
		if c != nil {
			c.Release()
		}
	}
}

// NewParam allocates a zero parameter of the given shape.
func NewParam[T Float](name string, shape ...int) *Param[T] {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("engine: parameter %s has negative dim in %v", name, shape))
		}
		n *= d
	}
	return &Param[T]{Name: name, Shape: append([]int(nil), shape...), Data: make([]T, n), Grad: make([]T, n)}
}

// Size is the number of elements.
func (p *Param[T]) Size() int { return len(p.Data) }

// ZeroGrad clears the accumulated gradient.
func (p *Param[T]) ZeroGrad() { clear(p.Grad) }

// LR returns the effective learning-rate multiplier (LRMult, 0 read as 1).
func (p *Param[T]) LR() float64 {
	if p.LRMult == 0 {
		return 1
	}
	return p.LRMult
}

// FreezeTransposed stores the transpose of a 2-D parameter's Data ([in,
// out] for [out, in]) for graphs that bind it afterwards: Linear then
// multiplies by it without transposing the weight itself (the same
// products, so the same bits, where gemm.LayoutIndependent()). The caller
// promises that Data does not change until Thaw; the trainer freezes its
// parameters for the forward and backward passes of a step. Other shapes
// are left alone.
func (p *Param[T]) FreezeTransposed() {
	if len(p.Shape) != 2 {
		return
	}
	r, c := p.Shape[0], p.Shape[1]
	if cap(p.tbuf) < r*c {
		p.tbuf = make([]T, r*c)
	}
	p.dataT = p.tbuf[:r*c]
	transpose(p.dataT, p.Data, r, c)
}

// FreezeConverted is FreezeTransposed for a GEMM that converts its
// operands before multiplying (gemm.Prepare: amx-bf16): it converts a 2-D
// float32 parameter w [out, in] once as Linear's two right operands — wᵀ
// for the forward x·wᵀ, w for the input gradient G·w — which Linear then
// uses instead of converting w in every product (the same values, so the
// same bits). A 3×3 kernel [O, C, 3, 3] it stores in the tap-major
// orders its implicit convolutions multiply by (tapMajor: the forward for
// 32·k input channels, the input gradient's flipped kernel for 32·k output
// channels), each also converted (gemm.PrepareLeft), which Conv2d then
// uses instead of reordering and converting the kernel in every call. It
// does nothing for other shapes, for float64, or where the GEMM does not
// convert. The caller promises that Data does not change until Thaw.
func (p *Param[T]) FreezeConverted() {
	d, ok := any(p.Data).([]float32)
	if !ok {
		return
	}
	if len(p.Shape) == 4 && p.Shape[2] == 3 && p.Shape[3] == 3 && gemm.ConvertsOperands() {
		O, C := p.Shape[0], p.Shape[1]
		fwd, flip := tapMajor[T](C), tapMajor[T](O)
		if fwd || flip {
			k := &p.tapStore
			for i, on := range []bool{fwd, flip} {
				if !on {
					k.w[i] = nil
					k.prepare(i, 0) // drops an old conversion
					continue
				}
				if cap(p.tapBuf[i]) < len(d) {
					p.tapBuf[i] = make([]float32, len(d))
				}
				k.set(i, p.tapBuf[i][:len(d)], d, O, C)
			}
			p.taps = k
		}
		return
	}
	if len(p.Shape) != 2 {
		return
	}
	out, in := p.Shape[0], p.Shape[1]
	p.conv[0] = gemm.Prepare(p.conv[0], true, in, out, d, in)
	p.conv[1] = gemm.Prepare(p.conv[1], false, out, in, d, in)
	if p.conv[0] != nil || p.conv[1] != nil {
		p.converted = &p.conv
	}
}

// Thaw drops what FreezeTransposed and FreezeConverted stored (keeping
// their storage for the next freeze).
func (p *Param[T]) Thaw() {
	p.dataT = nil
	p.converted = nil
	p.taps = nil
}

// transpose sets dst[j·r+i] = src[i·c+j] for an r×c src, in 8×8 blocks.
func transpose[T Float](dst, src []T, r, c int) {
	if d32, ok := any(dst).([]float32); ok && gemm.Transpose(d32, r, any(src).([]float32), c, r, c) {
		return
	}
	const b = 8
	for i0 := 0; i0 < r; i0 += b {
		for j0 := 0; j0 < c; j0 += b {
			for i := i0; i < min(i0+b, r); i++ {
				row := src[i*c : (i+1)*c]
				for j := j0; j < min(j0+b, c); j++ {
					dst[j*r+i] = row[j]
				}
			}
		}
	}
}
