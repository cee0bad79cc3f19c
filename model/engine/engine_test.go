package engine

import (
	"math"
	"testing"
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
	if i1.Shape[0] != 1 || i1.Shape[1] != 3 || i1.Data[0] != 4 {
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
