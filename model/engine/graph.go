package engine

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
)

// Graph records the operations of one forward pass so that Backward can
// run them in reverse. It is the reverse-mode tape of the engine: every op
// is a Graph method that computes its output and, when gradients are
// needed, pushes the closure that computes its inputs' gradients. The
// closure is written next to the forward code in the op's source file.
//
// A Graph is used by one goroutine. Parallel training runs one Graph per
// image; parameters are shared read-only (Graph.Param binds them with a
// private gradient buffer), and the per-graph gradients are summed into
// Param.Grad in a fixed order by AccumulateParamGrads.
//
// Buffers come from a pool owned by the graph: Reset returns every buffer
// of the pass to the pool, so a training loop that reuses one Graph per
// worker allocates nothing in steady state. Tensors of a graph are invalid
// after its Reset.
type Graph[T Float] struct {
	record bool
	tape   []func()
	bound  map[*Param[T]]*Tensor[T]
	order  []*Param[T] // binding order, for deterministic accumulation
	pool   pool[T]
	pool64 pool[float64] // float64 statistics of norms and losses
	// gradInto, when set, gives the buffer a bound parameter's gradient
	// accumulates into (see AccumulateInto).
	gradInto func(*Param[T]) []T
	// convOffs caches the im2col row offsets of implicit convolutions by
	// input shape (see convOffsets).
	convOffs map[[3]int][]int
	// reused are the conversions of the tensors marked with Reuse,
	// released by Reset; the caches past len are kept for the next pass.
	reused []*operandCache
}

// NewGraph returns an empty graph that records operations.
func NewGraph[T Float]() *Graph[T] {
	return &Graph[T]{record: true, bound: map[*Param[T]]*Tensor[T]{}}
}

// SetGrad turns recording on or off and returns the previous setting.
// With recording off (no-grad mode) ops compute their outputs only: no
// closures, no gradient buffers, as under torch.no_grad().
func (g *Graph[T]) SetGrad(on bool) (was bool) {
	was = g.record
	g.record = on
	return was
}

// Recording reports whether the graph records operations.
func (g *Graph[T]) Recording() bool { return g.record }

// Reset forgets the tape and the bound parameters and returns all buffers
// to the pool. Recording is left as it was.
func (g *Graph[T]) Reset() {
	g.tape = g.tape[:0]
	clear(g.bound)
	g.order = g.order[:0]
	g.pool.releaseAll()
	g.pool64.releaseAll()
	for _, c := range g.reused {
		c.release()
	}
	g.reused = g.reused[:0]
}

// needs reports whether an op with these inputs must record a backward.
func (g *Graph[T]) needs(ins ...*Tensor[T]) bool {
	if !g.record {
		return false
	}
	for _, t := range ins {
		if t != nil && t.requiresGrad {
			return true
		}
	}
	return false
}

// push appends a backward closure to the tape.
func (g *Graph[T]) push(f func()) { g.tape = append(g.tape, f) }

// alloc returns a zeroed buffer of n elements from the pool.
func (g *Graph[T]) alloc(n int) []T { return g.pool.get(n, true) }

// allocRaw returns a buffer of n elements whose content is undefined; the
// caller overwrites every element.
func (g *Graph[T]) allocRaw(n int) []T {
	b := g.pool.get(n, false)
	if poisonRaw {
		nan := T(math.NaN())
		for i := range b {
			b[i] = nan
		}
	}
	return b
}

// poisonRaw makes allocRaw fill what it returns with NaN (tests: an
// operation that reads memory it has not written then shows).
var poisonRaw bool

// alloc64 returns a zeroed float64 buffer of n elements from the graph's
// pool (per-row statistics that live until the backward pass); like the
// float32 buffers it returns to the pool at Reset, so steady-state steps
// write memory they have written before instead of fresh allocations.
func (g *Graph[T]) alloc64(n int) []float64 { return g.pool64.get(n, true) }

// Scratch returns a zeroed buffer of n elements that lives until Reset,
// for ops and models that need temporary storage.
func (g *Graph[T]) Scratch(n int) []T { return g.alloc(n) }

// newTensor returns a tensor of the given shape with undefined content.
func (g *Graph[T]) newTensor(shape []int, requiresGrad bool) *Tensor[T] {
	return &Tensor[T]{Shape: append([]int(nil), shape...), Data: g.allocRaw(NumElems(shape)), requiresGrad: requiresGrad}
}

// newZero returns a zero tensor of the given shape.
func (g *Graph[T]) newZero(shape []int, requiresGrad bool) *Tensor[T] {
	return &Tensor[T]{Shape: append([]int(nil), shape...), Data: g.alloc(NumElems(shape)), requiresGrad: requiresGrad}
}

// grad returns t.Grad, allocating a zero gradient buffer on first use.
func (g *Graph[T]) grad(t *Tensor[T]) []T {
	if t.Grad == nil {
		t.Grad = g.alloc(len(t.Data))
	}
	return t.Grad
}

// gradNew returns t's gradient buffer and whether this call made it. A
// new buffer is not zeroed: the caller writes every element of it, where
// an existing one gets the same contribution added. The values are the
// same (0 + x = x; only a −0 stays −0 instead of becoming +0), without
// zeroing the buffer and reading it back — in a 96 px MP-Former step,
// ~76 MB of gradient buffers were zeroed and then added to.
func (g *Graph[T]) gradNew(t *Tensor[T]) (buf []T, fresh bool) {
	if t.Grad != nil {
		return t.Grad, false
	}
	t.Grad = g.allocRaw(len(t.Data))
	return t.Grad, true
}

// gradNewIf is gradNew for a tensor that may not require a gradient
// (then nil, false).
func (g *Graph[T]) gradNewIf(t *Tensor[T]) ([]T, bool) {
	if !t.requiresGrad {
		return nil, false
	}
	return g.gradNew(t)
}

// passGrad adds G, the gradient of the calling op's output (of t's
// length), to t's gradient. A t without a gradient yet takes G itself:
// nothing reads an op's output gradient once the op's backward has run,
// and the tape runs each op's backward after every use of its output.
func (g *Graph[T]) passGrad(t *Tensor[T], G []T) {
	if t.Grad == nil {
		t.Grad = G
		return
	}
	axpy(t.Grad, 1, G)
}

// addGrad adds a·G to t's gradient, or writes a·G (each product rounded
// as axpy rounds it) into a new buffer when t has none yet.
func (g *Graph[T]) addGrad(t *Tensor[T], a T, G []T) {
	d, fresh := g.gradNew(t)
	switch {
	case !fresh:
		axpy(d, a, G)
	case a == 1:
		copy(d, G)
	default:
		for i, v := range G {
			d[i] = a * v
		}
	}
}

// gemmBeta is the beta of a GEMM that accumulates into a gradient buffer
// from gradNew: 0 (overwrite) for a new buffer, else 1.
func gemmBeta[T Float](fresh bool) T {
	if fresh {
		return 0
	}
	return 1
}

// gradIf is grad(t) for a tensor that requires a gradient and nil for one
// that does not.
func (g *Graph[T]) gradIf(t *Tensor[T]) []T {
	if !t.requiresGrad {
		return nil
	}
	return g.grad(t)
}

// Const wraps data as a tensor that does not require gradients. The data
// is not copied; the caller must not modify it while the graph is in use.
func (g *Graph[T]) Const(data []T, shape ...int) *Tensor[T] {
	if NumElems(shape) != len(data) {
		panic(fmt.Sprintf("engine: Const: %d elements for shape %v", len(data), shape))
	}
	return &Tensor[T]{Shape: append([]int(nil), shape...), Data: data}
}

// Leaf wraps data as a tensor that requires gradients (inputs of gradient
// checks). Like Const it does not copy.
func (g *Graph[T]) Leaf(data []T, shape ...int) *Tensor[T] {
	t := g.Const(data, shape...)
	t.requiresGrad = true
	return t
}

// Zeros returns a constant zero tensor.
func (g *Graph[T]) Zeros(shape ...int) *Tensor[T] { return g.newZero(shape, false) }

// Full returns a constant tensor filled with v.
func (g *Graph[T]) Full(v T, shape ...int) *Tensor[T] {
	t := g.newTensor(shape, false)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// Param binds a parameter to the graph: the returned tensor shares the
// parameter's data and has a private gradient (or, after AccumulateInto,
// the caller's buffer). Binding the same parameter twice returns the same
// tensor.
func (g *Graph[T]) Param(p *Param[T]) *Tensor[T] {
	if t, ok := g.bound[p]; ok {
		return t
	}
	t := &Tensor[T]{Shape: p.Shape, Data: p.Data, requiresGrad: g.record, dataT: p.dataT, converted: p.converted, taps: p.taps}
	if g.gradInto != nil && g.record {
		t.Grad = g.gradInto(p)
		checkLen("Param", "gradient buffer", len(t.Grad), len(p.Data))
	}
	g.bound[p] = t
	g.order = append(g.order, p)
	return t
}

// Detach returns a tensor with the same data that does not require
// gradients (the data is shared, not copied).
func (g *Graph[T]) Detach(t *Tensor[T]) *Tensor[T] {
	return &Tensor[T]{Shape: t.Shape, Data: t.Data}
}

// AccumulateInto makes the parameters bound from now on (until it is
// called again, with nil to stop) accumulate their gradients into the
// buffers f returns, instead of private ones. The buffers are added to,
// never cleared, so several passes (images) run one after another on
// graphs sharing f sum their gradients in the order they run.
func (g *Graph[T]) AccumulateInto(f func(*Param[T]) []T) { g.gradInto = f }

// Backward computes the gradients of the scalar loss with respect to every
// tensor of the graph that requires them, by running the tape in reverse.
// It seeds d(loss)/d(loss) = 1. Backward may be called once per pass.
func (g *Graph[T]) Backward(loss *Tensor[T]) {
	if len(loss.Data) != 1 {
		panic(fmt.Sprintf("engine: Backward of a non-scalar of shape %v", loss.Shape))
	}
	if !loss.requiresGrad {
		return
	}
	g.grad(loss)[0] += 1
	for i := len(g.tape) - 1; i >= 0; i-- {
		g.tape[i]()
		g.tape[i] = nil
	}
	g.tape = g.tape[:0]
}

// BackwardRoots is Backward from several scalar losses at once: each is
// seeded with d(loss)/d(loss) = 1, as Backward seeds its one loss, and the
// tape runs once. Roots that do not require gradients are skipped.
func (g *Graph[T]) BackwardRoots(losses ...*Tensor[T]) {
	seeded := false
	for _, l := range losses {
		if len(l.Data) != 1 {
			panic(fmt.Sprintf("engine: BackwardRoots of a non-scalar of shape %v", l.Shape))
		}
		if l.requiresGrad {
			g.grad(l)[0] += 1
			seeded = true
		}
	}
	if !seeded {
		return
	}
	for i := len(g.tape) - 1; i >= 0; i-- {
		g.tape[i]()
		g.tape[i] = nil
	}
	g.tape = g.tape[:0]
}

// AccumulateParamGrads adds the gradient of every bound parameter to its
// Param.Grad (p.Grad += grad), in binding order. Parameters the backward
// pass did not reach are left unchanged.
func (g *Graph[T]) AccumulateParamGrads() {
	for _, p := range g.order {
		t := g.bound[p]
		if t.Grad == nil {
			continue
		}
		axpy(p.Grad, 1, t.Grad)
	}
}

// ParamGrad returns the gradient of this pass for a bound parameter, or nil.
func (g *Graph[T]) ParamGrad(p *Param[T]) []T {
	if t, ok := g.bound[p]; ok {
		return t.Grad
	}
	return nil
}

// pool recycles buffers by size class (sizeClass): a buffer of n elements
// is handed out with capacity sizeClass(n), so that lengths that differ a
// little from step to step (MP-Former's pilot rows follow the batch's
// largest number of GT segments) share one free list instead of each
// allocating fresh memory. Buffers handed out since the last releaseAll
// are tracked so that releaseAll can take them all back.
type pool[T Float] struct {
	free map[int][][]T // by capacity
	used [][]T
}

// sizeClass is the capacity of a pool buffer of n elements: n itself up
// to 64, else n rounded up to a multiple of 2^(⌊log₂ n⌋−3), which adds
// less than an eighth.
func sizeClass(n int) int {
	if n <= 64 {
		return n
	}
	step := 1 << (bits.Len(uint(n)) - 4)
	return (n + step - 1) &^ (step - 1)
}

func (p *pool[T]) get(n int, zero bool) []T {
	if n == 0 {
		return []T{}
	}
	c := sizeClass(n)
	var b []T
	if l := p.free[c]; len(l) > 0 {
		b = l[len(l)-1][:n]
		p.free[c] = l[:len(l)-1]
	} else if k := p.largerFree(c); k > 0 {
		l := p.free[k]
		b = l[len(l)-1][:n]
		p.free[k] = l[:len(l)-1]
	} else {
		b = make([]T, n, c)
		zero = false
	}
	if zero {
		clear(b)
	}
	p.used = append(p.used, b)
	return b
}

// largerFree returns the smallest capacity above c, at most 2c, with a
// free buffer, or 0. A step whose shapes shrank (fewer MP-Former pilot
// rows than the step before) then reuses the larger buffers instead of
// touching memory it has never written: on the 2-vCPU VM of #18 the first
// MP-Former training race of a process (ten loader batches) ran at 50
// images/s with 21,600 page faults in its timed steps, and at 72 with 13
// once shrunken shapes reused larger buffers. Called only when c's own
// list is empty.
func (p *pool[T]) largerFree(c int) int {
	best := 0
	for k, l := range p.free {
		if len(l) > 0 && k > c && k <= 2*c && (best == 0 || k < best) {
			best = k
		}
	}
	return best
}

func (p *pool[T]) releaseAll() {
	if p.free == nil {
		p.free = map[int][][]T{}
	}
	for _, b := range p.used {
		p.free[cap(b)] = append(p.free[cap(b)], b)
	}
	clear(p.used)
	p.used = p.used[:0]
}

// addRows adds rows rows of x (each len(y) long, stride apart) to y in
// row order, the bits of axpy(y, 1, row) for each row in turn.
func addRows[T Float](y, x []T, rows, stride int) {
	if y32, ok := any(y).([]float32); ok {
		fmath.AddRows(y32, any(x).([]float32), rows, stride)
		return
	}
	for r := 0; r < rows; r++ {
		row := x[r*stride : r*stride+len(y)]
		for i, v := range row {
			y[i] += v
		}
	}
}

// axpy computes y += a·x (the product rounded before the sum; float32
// slices go to fmath's vector kernels, which give the same bits).
func axpy[T Float](y []T, a T, x []T) {
	if len(x) == 0 {
		return
	}
	if y32, ok := any(y).([]float32); ok {
		if a == 1 {
			fmath.AddTo(y32[:len(x)], any(x).([]float32))
		} else {
			fmath.Axpy(y32[:len(x)], float32(a), any(x).([]float32))
		}
		return
	}
	_ = y[len(x)-1]
	if a == 1 {
		for i, v := range x {
			y[i] += v
		}
		return
	}
	for i, v := range x {
		y[i] += a * v
	}
}
