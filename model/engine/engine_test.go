package engine

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/gemm"
)

func TestSoftmaxFullyMaskedRowIsZero(t *testing.T) {
	g := NewGraph[float32]()
	x := g.Leaf([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	y := g.Softmax(x, nil, []bool{false, true, false, true, true, true})
	// row 0: softmax over {1, 3} → e¹/(e¹+e³) = 0.1192, 0, 0.8808
	want := []float32{0.11920292, 0, 0.8807971, 0, 0, 0}
	for i, v := range y.Data {
		if math.Abs(float64(v-want[i])) > 1e-6 {
			t.Fatalf("softmax = %v, want %v", y.Data, want)
		}
	}
	g.Backward(g.SumAll(g.Mul(y, g.Const([]float32{1, 2, 3, 4, 5, 6}, 2, 3))))
	for _, v := range x.Grad {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite gradient %v", x.Grad)
		}
	}
	if x.Grad[3] != 0 || x.Grad[4] != 0 || x.Grad[5] != 0 || x.Grad[1] != 0 {
		t.Fatalf("masked entries got gradient %v", x.Grad)
	}
}

func TestNearestTapsPyTorch(t *testing.T) {
	// F.interpolate(torch.arange(5.).view(1,1,1,5), size=(1,3), mode="nearest")
	// gives [0, 1, 3]: floor(j·5/3) for j = 0, 1, 2.
	got := nearestTaps(5, 3)
	want := []int{0, 1, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("nearestTaps(5,3) = %v, want %v", got, want)
		}
	}
}

func TestNoGradRecordsNothing(t *testing.T) {
	g := NewGraph[float32]()
	g.SetGrad(false)
	p := NewParam[float32]("w", 2, 2)
	x := g.Const([]float32{1, 2}, 1, 2)
	y := g.Linear(x, g.Param(p), nil)
	if y.RequiresGrad() || len(g.tape) != 0 {
		t.Fatalf("no-grad mode recorded %d closures", len(g.tape))
	}
}

func TestParamGradAccumulation(t *testing.T) {
	p := NewParam[float32]("w", 1, 2)
	p.Data[0], p.Data[1] = 1, 2
	for img := 0; img < 2; img++ {
		g := NewGraph[float32]()
		x := g.Const([]float32{3, float32(4 + img)}, 1, 2)
		// d/dw Σ x·wᵀ = x, summed over the two graphs: (3+3, 4+5)
		g.Backward(g.SumAll(g.Linear(x, g.Param(p), nil)))
		g.AccumulateParamGrads()
	}
	if p.Grad[0] != 6 || p.Grad[1] != 9 {
		t.Fatalf("accumulated grad %v, want [6 9]", p.Grad)
	}
}

func TestPoolReuse(t *testing.T) {
	g := NewGraph[float32]()
	step := func() (out []float32, bufs map[*float32]bool) {
		x := g.Leaf([]float32{1, 2, 3}, 3)
		y := g.Mul(x, x)
		g.Backward(g.SumAll(y))
		return y.Data, map[*float32]bool{&y.Data[0]: true, &y.Grad[0]: true, &x.Grad[0]: true}
	}
	_, first := step()
	g.Reset()
	b, _ := step()
	if !first[&b[0]] {
		t.Fatal("second pass did not reuse a buffer of the first pass")
	}
	if b[2] != 9 {
		t.Fatalf("reused buffer has wrong content %v", b)
	}
}

func TestAccumulateInto(t *testing.T) {
	p := NewParam[float32]("w", 1, 2)
	p.Data[0], p.Data[1] = 1, 2
	buf := make([]float32, 2)
	g := NewGraph[float32]()
	g.AccumulateInto(func(*Param[float32]) []float32 { return buf })
	for img := 0; img < 2; img++ {
		g.Reset()
		x := g.Const([]float32{3, float32(4 + img)}, 1, 2)
		// d/dw Σ x·wᵀ = x; two passes sum into buf: (3+3, 4+5)
		g.Backward(g.SumAll(g.Linear(x, g.Param(p), nil)))
	}
	if buf[0] != 6 || buf[1] != 9 {
		t.Fatalf("accumulated %v, want [6 9]", buf)
	}
}

// TestBatchItemAndRoots: two items of a batch [2, 3] feed two losses,
// L0 = Σ 2·item0 and L1 = Σ 3·item1; BackwardRoots seeds both (each with
// 1), so the batch a = w ⊙ x (x = 1) gets dL/da = (2, 2, 2, 3, 3, 3) and the
// parameter w the same, by hand. The items share the batch's gradient
// buffer (no copy), and a root that does not require gradients is skipped.
func TestBatchItemAndRoots(t *testing.T) {
	g := NewGraph[float32]()
	p := NewParam[float32]("w", 2, 3)
	copy(p.Data, []float32{1, 2, 3, 4, 5, 6})
	x := g.Const([]float32{1, 1, 1, 1, 1, 1}, 2, 3)
	a := g.Mul(g.Param(p), x)
	i0, i1 := g.BatchItem(a, 0), g.BatchItem(a, 1)
	if len(i1.Shape) != 1 || i1.Shape[0] != 3 || i1.Data[0] != 4 {
		t.Fatalf("item 1: shape %v data %v", i1.Shape, i1.Data)
	}
	if &i1.Grad[0] != &g.grad(a)[3] {
		t.Fatal("item 1 does not share the batch's gradient buffer")
	}
	l0, l1 := g.SumAll(g.Scale(i0, 2)), g.SumAll(g.Scale(i1, 3))
	g.BackwardRoots(l1, l0, g.Const([]float32{7}, 1))
	g.AccumulateParamGrads()
	want := []float32{2, 2, 2, 3, 3, 3}
	for i, v := range p.Grad {
		if v != want[i] {
			t.Fatalf("grad %v, want %v", p.Grad, want)
		}
	}
}

// TestRows: rows [1, 3) and [0, 1) of a [4, 2] tensor a = w ⊙ 1 feed
// L = Σ 2·rows(1:3) + Σ 5·rows(0:1); by hand dL/dw = (5, 5, 2, 2, 2, 2,
// 0, 0), the same as through Slice, and the rows share a's data and
// gradient buffer.
func TestRows(t *testing.T) {
	for _, rows := range []bool{true, false} {
		g := NewGraph[float32]()
		p := NewParam[float32]("w", 4, 2)
		copy(p.Data, []float32{1, 2, 3, 4, 5, 6, 7, 8})
		a := g.Mul(g.Param(p), g.Const([]float32{1, 1, 1, 1, 1, 1, 1, 1}, 4, 2))
		var r1, r0 *Tensor[float32]
		if rows {
			r1, r0 = g.Rows(a, 1, 3), g.Rows(a, 0, 1)
			if r1.Shape[0] != 2 || r1.Shape[1] != 2 || r1.Data[0] != 3 || &r1.Grad[0] != &a.Grad[2] {
				t.Fatalf("rows 1:3: shape %v data %v, or not a's gradient buffer", r1.Shape, r1.Data)
			}
		} else {
			r1, r0 = g.Slice(a, 0, 1, 3), g.Slice(a, 0, 0, 1)
		}
		g.Backward(g.Add(g.SumAll(g.Scale(r1, 2)), g.SumAll(g.Scale(r0, 5))))
		g.AccumulateParamGrads()
		want := []float32{5, 5, 2, 2, 2, 2, 0, 0}
		for i, v := range p.Grad {
			if v != want[i] {
				t.Fatalf("rows=%v: grad %v, want %v", rows, p.Grad, want)
			}
		}
	}
}

// TestAttentionBatchItems: AttentionBatch on three items gives each item
// the bits Attention gives it alone (the rows of a product do not depend
// on the other rows; the attention runs item by item), with a different
// mask per item; and the input gradients are the same bits too (only the
// weights' gradients, sums over all rows, may round differently).
func TestAttentionBatchItems(t *testing.T) {
	const N, D, H, Lq, Lk = 3, 16, 4, 5, 7
	r := rand.New(rand.NewPCG(3, 4))
	randn := func(n int) []float32 { return normals32(r, n) }
	ws := make([][]float32, 8)
	for i := range ws {
		ws[i] = randn([]int{D * D, D}[i%2])
	}
	query, key, qpos, kpos := randn(N*Lq*D), randn(N*Lk*D), randn(Lq*D), randn(Lk*D)
	seed := randn(N * Lq * D) // the output gradient
	masks := make([][]bool, N)
	for i := range masks {
		masks[i] = make([]bool, Lq*Lk)
		for j := range masks[i] {
			masks[i][j] = r.IntN(3) == 0
		}
	}
	run := func(items []int) (out, dq, dk []float32) {
		g := NewGraph[float32]()
		n := len(items)
		pick := func(src []float32, L int) []float32 {
			var v []float32
			for _, i := range items {
				v = append(v, src[i*L*D:(i+1)*L*D]...)
			}
			return v
		}
		var ms [][]bool
		for _, i := range items {
			ms = append(ms, masks[i])
		}
		wt := make([]*Tensor[float32], 8)
		for i := range wt {
			shape := []int{D, D}
			if i%2 == 1 { // biases
				shape = []int{D}
			}
			wt[i] = g.Leaf(append([]float32(nil), ws[i]...), shape...)
		}
		w := AttnWeights[float32]{wt[0], wt[1], wt[2], wt[3], wt[4], wt[5], wt[6], wt[7]}
		q, k := g.Leaf(pick(query, Lq), n, Lq, D), g.Leaf(pick(key, Lk), n, Lk, D)
		o := g.AttentionBatch(q, k, k, g.Const(qpos, Lq, D), g.Const(kpos, Lk, D), w, H, ms)
		g.Backward(g.SumAll(g.Mul(o, g.Const(pick(seed, Lq), n, Lq, D))))
		return o.Data, q.Grad, k.Grad
	}
	out, dq, dk := run([]int{0, 1, 2})
	for i := range N {
		o1, dq1, dk1 := run([]int{i})
		for _, c := range []struct {
			name      string
			batch, it []float32
		}{{"output", out[i*Lq*D : (i+1)*Lq*D], o1}, {"query gradient", dq[i*Lq*D : (i+1)*Lq*D], dq1}, {"key gradient", dk[i*Lk*D : (i+1)*Lk*D], dk1}} {
			for e := range c.it {
				if math.Float32bits(c.batch[e]) != math.Float32bits(c.it[e]) {
					t.Fatalf("item %d: %s[%d] = %v in the batch, %v alone", i, c.name, e, c.batch[e], c.it[e])
				}
			}
		}
	}
}

// TestAddTiled: Add of a [3, 2, 4] and a b that repeats over a's leading
// dims — [2, 4], and with leading 1s [1, 2, 4] and [1, 4] (a level
// embedding over every token) — gives a[i] + b[i mod n] and b's gradient
// the output gradient's blocks added in block order, from zero, element by
// element in float32 — the additions of the general broadcast path.
func TestAddTiled(t *testing.T) {
	for _, bs := range [][]int{{2, 4}, {1, 2, 4}, {1, 4}} {
		if !tiles([]int{3, 2, 4}, bs) {
			t.Fatalf("b %v does not tile a [3 2 4]", bs)
		}
		g := NewGraph[float32]()
		r := rand.New(rand.NewPCG(7, 8))
		n := 1
		for _, d := range bs {
			n *= d
		}
		av, bv, gv := make([]float32, 24), make([]float32, n), make([]float32, 24)
		for i := range av {
			av[i], gv[i] = float32(r.NormFloat64()), float32(r.NormFloat64()*1e3)
		}
		for i := range bv {
			bv[i] = float32(r.NormFloat64())
		}
		a, b := g.Leaf(av, 3, 2, 4), g.Leaf(bv, bs...)
		out := g.Add(a, b)
		g.Backward(g.SumAll(g.Mul(out, g.Const(gv, out.Shape...))))
		for i, v := range out.Data {
			if v != av[i]+bv[i%n] {
				t.Fatalf("b %v: out[%d] = %v, want %v", bs, i, v, av[i]+bv[i%n])
			}
		}
		for e := range bv {
			var want float32
			for k := range 24 / n {
				want += gv[k*n+e]
			}
			if math.Float32bits(b.Grad[e]) != math.Float32bits(want) {
				t.Fatalf("b %v: db[%d] = %v, want %v", bs, e, b.Grad[e], want)
			}
		}
		for i := range av {
			if a.Grad[i] != gv[i] {
				t.Fatalf("b %v: da[%d] = %v, want %v", bs, i, a.Grad[i], gv[i])
			}
		}
	}
}

// normals32 returns n standard normal float32 values drawn from r.
func normals32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// TestPoolSizeClasses: a pool buffer's capacity is its size class — n up
// to 64, else less than an eighth above n, a multiple of the class step
// (by hand: 65 → 72 with steps of 8 for 64…127, 1000 → 1024 with steps of
// 64 for 512…1023, 1025 → 1152 with steps of 128) — and after a release
// a nearby length reuses the same memory, zeroed when asked.
func TestPoolSizeClasses(t *testing.T) {
	for n, want := range map[int]int{1: 1, 64: 64, 65: 72, 127: 128, 1000: 1024, 1024: 1024, 1025: 1152} {
		if got := sizeClass(n); got != want {
			t.Errorf("sizeClass(%d) = %d, want %d", n, got, want)
		}
	}
	for n := 1; n < 1<<16; n += 7 {
		if c := sizeClass(n); c < n || 8*(c-n) >= n && n > 64 {
			t.Fatalf("sizeClass(%d) = %d", n, c)
		}
	}
	var p pool[float32]
	a := p.get(1000, true)
	if len(a) != 1000 || cap(a) != 1024 {
		t.Fatalf("len %d cap %d, want 1000 and 1024", len(a), cap(a))
	}
	for i := range a {
		a[i] = 1
	}
	p.releaseAll()
	b := p.get(990, true)
	if len(b) != 990 || &b[0] != &a[0] {
		t.Fatalf("a 990-element buffer did not reuse the released 1000-element one")
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("b[%d] = %v, want 0", i, v)
		}
	}
	if c := p.get(1000, false); &c[0] == &a[0] {
		t.Fatal("a buffer handed out twice before a release")
	}
}

// TestLinearBiasFill: a Linear over 37 rows of 200 outputs (the bias
// fill doubles 1, 2, 4, … 32 rows, then copies a partial 5) gives every
// row the bits the row gets alone.
func TestLinearBiasFill(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	const rows, in, outF = 37, 5, 200
	x, w, b := normals32(r, rows*in), normals32(r, outF*in), normals32(r, outF)
	g := NewGraph[float32]()
	all := g.Linear(g.Const(x, rows, in), g.Const(w, outF, in), g.Const(b, outF))
	for i := 0; i < rows; i++ {
		one := g.Linear(g.Const(x[i*in:(i+1)*in], 1, in), g.Const(w, outF, in), g.Const(b, outF))
		for j, v := range one.Data {
			if math.Float32bits(all.Data[i*outF+j]) != math.Float32bits(v) {
				t.Fatalf("row %d col %d: %v in the batch, %v alone", i, j, all.Data[i*outF+j], v)
			}
		}
	}
}

// TestPoolReusesLarger: when a size class has no free buffer, the pool
// hands out the smallest free one of up to twice the class (zeroed when
// asked), and allocates only when there is none.
func TestPoolReusesLarger(t *testing.T) {
	var p pool[float32]
	big := p.get(1500, false) // class 1536
	for i := range big {
		big[i] = 7
	}
	huge := p.get(5000, false) // class 5120: more than twice 1024
	p.releaseAll()
	small := p.get(1000, true) // class 1024: takes the 1536 buffer
	if &small[0] != &big[0] || len(small) != 1000 {
		t.Fatal("a 1000-element request did not reuse the free 1536-capacity buffer")
	}
	for i, v := range small {
		if v != 0 {
			t.Fatalf("small[%d] = %v, want 0", i, v)
		}
	}
	other := p.get(1000, false) // none left within 2×1024: a new buffer
	if &other[0] == &huge[0] || cap(other) != 1024 {
		t.Fatalf("a second request took a buffer of capacity %d, want a new one of 1024", cap(other))
	}
}

// TestAttentionTransposedHeads: with a layout-independent GEMM (asm, and
// amx-bf16 where the CPU has it), attention multiplying each head by its
// rows of the transposed k and v gives the bits of multiplying by k and v
// transposed inside the GEMM: outputs, input gradients and weight
// gradients, for cross-attention with per-item masks over a short and a
// long key sequence, and for self-attention.
func TestAttentionTransposedHeads(t *testing.T) {
	defer gemm.Use(gemm.Current().Name())
	var impls []string
	for _, name := range gemm.Names() {
		if gemm.Use(name) == nil && gemm.LayoutIndependent() {
			impls = append(impls, name)
		}
	}
	if len(impls) == 0 {
		t.Skip("no layout-independent GEMM")
	}
	const N, D, H, Lq = 2, 32, 2, 20
	for _, name := range impls {
		if err := gemm.Use(name); err != nil {
			t.Fatal(err)
		}
		for _, Lk := range []int{7, 300, 0} {
			self := Lk == 0
			if self {
				Lk = Lq
			}
			run := func(transposed bool) (bits []uint32) {
				noTransposeHeads = !transposed
				defer func() { noTransposeHeads = false }()
				r := rand.New(rand.NewPCG(5, uint64(Lk)))
				randn := func(n int) []float32 { return normals32(r, n) }
				g := NewGraph[float32]()
				wt := make([]*Tensor[float32], 8)
				for i := range wt {
					if i%2 == 0 {
						wt[i] = g.Leaf(randn(D*D), D, D)
					} else {
						wt[i] = g.Leaf(randn(D), D)
					}
				}
				w := AttnWeights[float32]{wt[0], wt[1], wt[2], wt[3], wt[4], wt[5], wt[6], wt[7]}
				q := g.Leaf(randn(N*Lq*D), N, Lq, D)
				k, ms := q, [][]bool(nil)
				if !self {
					k = g.Leaf(randn(N*Lk*D), N, Lk, D)
					ms = make([][]bool, N)
					for i := range ms {
						ms[i] = make([]bool, Lq*Lk)
						for j := range ms[i] {
							ms[i][j] = r.IntN(4) == 0
						}
					}
				}
				o := g.AttentionBatch(q, k, k, g.Const(randn(Lq*D), Lq, D), g.Const(randn(Lk*D), Lk, D), w, H, ms)
				g.Backward(g.SumAll(g.Mul(o, g.Const(randn(N*Lq*D), N, Lq, D))))
				vals := slices.Concat(o.Data, q.Grad, k.Grad)
				for _, x := range wt {
					vals = append(vals, x.Grad...)
				}
				for _, v := range vals {
					bits = append(bits, math.Float32bits(v))
				}
				return bits
			}
			want, got := run(false), run(true)
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("%s Lk=%d self=%v: value %d = %g with transposed copies, %g without", name, Lk, self, i, math.Float32frombits(got[i]), math.Float32frombits(want[i]))
				}
			}
		}
	}
}

// TestResizeNearestDoubling: the 2×2-block path of ResizeNearest (an
// output twice the input's size, the FPN's upsampling) gives the general
// loop's bits forward (each output the tap nearestTaps picks) and
// backward (each input's gradient the four outputs of its block added in
// the general loop's order, rows then columns, onto what it held).
func TestResizeNearestDoubling(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, sh := range [][3]int{{3, 4, 6}, {1, 1, 1}, {2, 16, 16}, {5, 7, 3}} {
		P, H, W := sh[0], sh[1], sh[2]
		x := normals32(rng, P*H*W)
		up := normals32(rng, P*4*H*W)
		pre := normals32(rng, P*H*W) // x's gradient before the resize's backward adds to it
		g := NewGraph[float32]()
		xt := g.Leaf(x, P, H, W)
		y := g.ResizeNearest(xt, 2*H, 2*W)
		loss := g.SumAll(g.Mul(y, g.Const(up, y.Shape...)))
		g.Backward(g.AddN(loss, g.SumAll(g.Mul(xt, g.Const(pre, xt.Shape...)))))
		ys, xs := nearestTaps(H, 2*H), nearestTaps(W, 2*W)
		dx := slices.Clone(pre)
		for p := 0; p < P; p++ {
			for i, sy := range ys {
				for j, sx := range xs {
					o := (p*2*H+i)*2*W + j
					if math.Float32bits(y.Data[o]) != math.Float32bits(x[(p*H+sy)*W+sx]) {
						t.Fatalf("%v: output %d = %v, want %v", sh, o, y.Data[o], x[(p*H+sy)*W+sx])
					}
					dx[(p*H+sy)*W+sx] += up[o]
				}
			}
		}
		for i := range dx {
			if math.Float32bits(xt.Grad[i]) != math.Float32bits(dx[i]) {
				t.Fatalf("%v: gradient %d = %v, want %v", sh, i, xt.Grad[i], dx[i])
			}
		}
	}
}

// TestSoftmaxBackwardRowsChains: softmaxBackwardRows gives, for float32
// and any number of rows (eight at a time in RowDots8's lanes, then four,
// then one), the bits of one plain float64 chain per row in index order
// followed by g ← y·(g − dot).
func TestSoftmaxBackwardRowsChains(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	for _, sh := range [][2]int{{1, 5}, {8, 16}, {13, 27}, {20, 144}, {27, 1}} {
		Lq, Lk := sh[0], sh[1]
		y, g := normals32(rng, Lq*Lk), normals32(rng, Lq*Lk)
		want := slices.Clone(g)
		for i := 0; i < Lq; i++ {
			var dot float64
			for j := 0; j < Lk; j++ {
				dot += float64(y[i*Lk+j]) * float64(g[i*Lk+j])
			}
			d := float32(dot)
			for j := 0; j < Lk; j++ {
				want[i*Lk+j] = y[i*Lk+j] * (g[i*Lk+j] - d)
			}
		}
		softmaxBackwardRows(g, y, Lq, Lk)
		for i := range g {
			if math.Float32bits(g[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%v: g[%d] = %v, want %v", sh, i, g[i], want[i])
			}
		}
	}
}
