package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMSDeformSampleHand checks the sampling rule on a 2×3 map with one
// head, one channel and one point, against values worked out by hand from
// grid_sample's align_corners=False rule (pixel coordinate x·W − ½):
//
//	map  1 2 3      x̃ = x·3 − ½,  ỹ = y·2 − ½
//	     4 5 6
func TestMSDeformSampleHand(t *testing.T) {
	value := []float64{1, 2, 3, 4, 5, 6}
	cases := []struct {
		x, y, attn, want float64
		why              string
	}{
		{0.5 / 3, 0.25, 1, 1, "pixel centre (0, 0): the value there"},
		{2.5 / 3, 0.75, 1, 6, "pixel centre (1, 2)"},
		{0.5, 0.5, 1, 3.5, "centre of the map: x̃ = 1, ỹ = ½, (2+5)/2"},
		{1.0 / 3, 0.25, 1, 1.5, "cell border x̃ = ½ on row 0: (1+2)/2"},
		{1.0 / 3, 0.5, 1, 3, "corner of four cells: (1+2+4+5)/4"},
		{0, 0.25, 1, 0.5, "left edge x̃ = −½: half of 1, half of the zero padding"},
		{0, 0, 1, 0.25, "top-left corner: a quarter of 1"},
		{1, 1, 1, 1.5, "bottom-right corner: a quarter of 6"},
		{-0.5 / 3, 0.25, 1, 0, "x̃ = −1: exactly on the padding"},
		{-1, 0.25, 1, 0, "far outside"},
		{0.5 / 3, 1.5, 1, 0, "below the map"},
		{0.5, 0.5, 0.25, 0.875, "attention weight scales the sample: ¼·3.5"},
	}
	for _, c := range cases {
		g := NewGraph[float64]()
		out := g.MSDeformSample(g.Const(value, 6, 1, 1), [][2]int{{2, 3}}, g.Const([]float64{c.x, c.y}, 1, 1, 1, 1, 2), g.Const([]float64{c.attn}, 1, 1, 1, 1))
		if got := out.Data[0]; math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: (x, y) = (%.4g, %.4g): got %.12g, want %g", c.why, c.x, c.y, got, c.want)
		}
	}
	// two levels, two points, two heads of two channels: the weighted sum
	// runs over levels × points per head. Level 0 is 1×1 (value 10 for head
	// 0 channel 0 …), level 1 the map above scaled per head and channel.
	lv := [][2]int{{1, 1}, {2, 3}}
	val := make([]float64, 7*2*2)
	for h := 0; h < 2; h++ {
		for c := 0; c < 2; c++ {
			val[h*2+c] = float64(10 * (1 + h*2 + c))
			for i := 0; i < 6; i++ {
				val[(1+i)*4+h*2+c] = value[i] * float64(1+h*2+c)
			}
		}
	}
	// every point at the centre of its level (level 1: 3.5·scale)
	loc := make([]float64, 2*2*2*2)
	for i := 0; i < len(loc); i += 2 {
		loc[i], loc[i+1] = 0.5, 0.5
	}
	attn := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.25, 0.125, 0.125} // [head][level][point]
	g := NewGraph[float64]()
	out := g.MSDeformSample(g.Const(val, 7, 2, 2), lv, g.Const(loc, 1, 2, 2, 2, 2), g.Const(attn, 1, 2, 2, 2))
	for h := 0; h < 2; h++ {
		for c := 0; c < 2; c++ {
			s := float64(1 + h*2 + c)
			a := attn[h*4:]
			want := (a[0]+a[1])*10*s + (a[2]+a[3])*3.5*s
			if got := out.Data[h*2+c]; math.Abs(got-want) > 1e-12 {
				t.Errorf("head %d channel %d: got %g, want %g", h, c, got, want)
			}
		}
	}
}

// msdLocations returns normalised sampling coordinates on a side of n
// pixels, away from the points where bilinear sampling has a kink (pixel
// centres, and −1 and n at the edge of the zero padding), that cover:
// cell borders (x̃ = i − ½, including the map's edges x = 0 and x = 1),
// cell interiors, partly outside the map (one column of taps in the
// padding) and entirely outside it.
func msdLocations(n int) []float64 {
	pix := []float64{-0.5, 0.5, float64(n) - 0.5, 0.3, float64(n) - 1.7, -0.7, float64(n) - 0.25, -1.6, float64(n) + 0.4}
	out := make([]float64, len(pix))
	for i, p := range pix {
		out[i] = (p + 0.5) / float64(n)
	}
	return out
}

// TestGradMSDeformSample checks the gradients of the sampling core with
// respect to the values, the locations and the attention weights by
// central differences, at locations on cell borders, at the map's edges,
// partly and entirely outside the map, and inside cells.
func TestGradMSDeformSample(t *testing.T) {
	levels := [][2]int{{3, 4}, {2, 3}} // non-square, to catch x/y swaps
	const Lq, M, Dh, P = 3, 2, 3, 2
	L := len(levels)
	Len := 3*4 + 2*3
	r := rand.New(rand.NewPCG(17, 4))
	loc := make([]float64, Lq*M*L*P*2)
	for s := 0; s < Lq*M*L*P; s++ {
		l := (s / P) % L
		H, W := levels[l][0], levels[l][1]
		xs, ys := msdLocations(W), msdLocations(H)
		// x walks the list; y is a cell border or interior point most of
		// the time, so that most samples see the x cases inside the map
		loc[2*s] = xs[s%len(xs)]
		loc[2*s+1] = ys[(s*5+1)%len(ys)]
		if s%4 == 3 {
			loc[2*s+1] = ys[r.IntN(4)]
		}
	}
	ins := []in{{shape: []int{Len, M, Dh}}, {shape: []int{Lq, M, L, P, 2}, data: loc}, {shape: []int{Lq, M, L, P}}}
	gradcheck(t, "MSDeformSample", ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.MSDeformSample(x[0], levels, x[1], x[2])
	})
	// constant locations and weights: only the value gets a gradient
	ins[1].noGrad, ins[2].noGrad = true, true
	gradcheck(t, "MSDeformSampleValueOnly", ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.MSDeformSample(x[0], levels, x[1], x[2])
	})
}

// TestGradMSDeformSampleKinks puts every sample exactly where bilinear
// sampling is not differentiable in the location: on pixel centres, and
// on the outermost taps' positions x̃ = −1 and x̃ = W (H, W powers of two,
// so the coordinates are exact). The values and attention weights enter
// linearly, so central differences check their gradients; the location
// gradient must be the derivative from the right, as PyTorch's
// grid_sampler_2d_backward computes it, which the forward difference
// (f(x+h) − f(x))/h gives exactly up to rounding (sampling is linear in x
// within a cell).
func TestGradMSDeformSampleKinks(t *testing.T) {
	levels := [][2]int{{2, 4}, {4, 2}}
	const Lq, M, Dh, P = 2, 2, 2, 3
	L := len(levels)
	Len := 2*4 + 4*2
	r := rand.New(rand.NewPCG(3, 9))
	loc := make([]float64, Lq*M*L*P*2)
	for s := 0; s < Lq*M*L*P; s++ {
		l := (s / P) % L
		H, W := levels[l][0], levels[l][1]
		px := float64(r.IntN(W+2) - 1) // −1 … W
		py := float64(r.IntN(H+2) - 1)
		if s%3 != 2 { // mostly inside, so that the check has non-zero taps
			px, py = float64(r.IntN(W)), float64(r.IntN(H))
		}
		loc[2*s] = (px + 0.5) / float64(W)
		loc[2*s+1] = (py + 0.5) / float64(H)
	}
	ins := []in{{shape: []int{Len, M, Dh}}, {shape: []int{Lq, M, L, P, 2}, data: loc, noGrad: true}, {shape: []int{Lq, M, L, P}}}
	f := func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.MSDeformSample(x[0], levels, x[1], x[2])
	}
	gradcheck(t, "MSDeformSampleAtKinks", ins, f)

	// location gradient against the forward difference
	pr := rand.New(rand.NewPCG(8, 8))
	value := make([]float64, Len*M*Dh)
	attn := make([]float64, Lq*M*L*P)
	for i := range value {
		value[i] = pr.NormFloat64()
	}
	for i := range attn {
		attn[i] = pr.NormFloat64()
	}
	R := make([]float64, Lq*M*Dh)
	for i := range R {
		R[i] = pr.NormFloat64()
	}
	loss := func(locs []float64) float64 {
		g := NewGraph[float64]()
		g.SetGrad(false)
		out := g.MSDeformSample(g.Const(value, Len, M, Dh), levels, g.Const(locs, Lq, M, L, P, 2), g.Const(attn, Lq, M, L, P))
		s := 0.0
		for i, v := range out.Data {
			s += v * R[i]
		}
		return s
	}
	g := NewGraph[float64]()
	lx := g.Leaf(append([]float64(nil), loc...), Lq, M, L, P, 2)
	out := g.MSDeformSample(g.Const(value, Len, M, Dh), levels, lx, g.Const(attn, Lq, M, L, P))
	g.Backward(g.SumAll(g.Mul(out, g.Const(R, out.Shape...))))
	const h = 1e-7
	f0 := loss(loc)
	nonzero := 0
	for j := range loc {
		orig := loc[j]
		loc[j] = orig + h
		num := (loss(loc) - f0) / h
		loc[j] = orig
		ana := lx.Grad[j]
		if math.Abs(ana-num) > 1e-6+1e-5*math.Abs(num) {
			t.Errorf("location %d (%s): analytic %.9g, right-sided difference %.9g", j, []string{"x", "y"}[j%2], ana, num)
		}
		if ana != 0 {
			nonzero++
		}
	}
	if nonzero < len(loc)/2 {
		t.Errorf("only %d of %d location gradients are non-zero: the test checks too little", nonzero, len(loc))
	}
}

// TestGradMSDeformAttn checks the whole module (projections, softmax over
// levels × points, location arithmetic, sampling, output projection) by
// central differences, with constant reference points and with reference
// points that take a gradient. Offsets of order 1 pixel on 2×3 and 3×2
// maps put many samples partly or wholly outside the maps.
func TestGradMSDeformAttn(t *testing.T) {
	levels := [][2]int{{2, 3}, {3, 2}}
	const D, M, P, Lq = 4, 2, 2, 3
	L := len(levels)
	Len := 12
	r := rand.New(rand.NewPCG(1, 2))
	ref := make([]float64, Lq*L*2)
	for i := range ref {
		ref[i] = 0.1 + 0.8*r.Float64()
	}
	for _, refGrad := range []bool{false, true} {
		ins := []in{
			{shape: []int{Lq, D}}, {shape: []int{Len, D}}, {shape: []int{Lq, L, 2}, data: ref, noGrad: !refGrad},
			{shape: []int{M * L * P * 2, D}}, {shape: []int{M * L * P * 2}},
			{shape: []int{M * L * P, D}}, {shape: []int{M * L * P}},
			{shape: []int{D, D}}, {shape: []int{D}}, {shape: []int{D, D}}, {shape: []int{D}},
		}
		gradcheck(t, fmt.Sprintf("MSDeformAttn ref grad=%v", refGrad), ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			w := MSDeformWeights[float64]{x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10]}
			return g.MSDeformAttn(x[0], x[1], x[2], levels, w, M, P)
		})
	}
	// self-attention as the encoder uses it: query = input + pos
	ins := []in{
		{shape: []int{Len, D}}, {shape: []int{Len, D}, noGrad: true},
		{shape: []int{M * L * P * 2, D}}, {shape: []int{M * L * P * 2}},
		{shape: []int{M * L * P, D}}, {shape: []int{M * L * P}},
		{shape: []int{D, D}}, {shape: []int{D}}, {shape: []int{D, D}}, {shape: []int{D}},
	}
	selfRef := make([]float64, Len*L*2)
	for i := range selfRef {
		selfRef[i] = r.Float64()
	}
	gradcheck(t, "MSDeformAttnSelf", ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		w := MSDeformWeights[float64]{x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9]}
		return g.MSDeformAttn(g.Add(x[0], x[1]), x[0], g.Const(selfRef, Len, L, 2), levels, w, M, P)
	})
}

// TestGradMSDeformLocations checks the location arithmetic (reference
// point + offset / level size) on its own.
func TestGradMSDeformLocations(t *testing.T) {
	levels := [][2]int{{2, 3}, {5, 4}, {1, 7}}
	for _, refGrad := range []bool{false, true} {
		ins := []in{{shape: []int{3, 3, 2}, noGrad: !refGrad}, {shape: []int{3, 2, 3, 2, 2}}}
		gradcheck(t, fmt.Sprintf("MSDeformLocations ref grad=%v", refGrad), ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			return g.msDeformLocations(x[0], x[1], levels)
		})
	}
	// hand values: level 1 is 5 high and 4 wide, so an offset (2, −1)
	// moves (0.5, 0.5) to (0.5 + 2/4, 0.5 − 1/5)
	g := NewGraph[float64]()
	ref := g.Const([]float64{0, 0, 0.5, 0.5, 0, 0}, 1, 3, 2)
	off := g.Const([]float64{0, 0, 2, -1, 0, 0}, 1, 1, 3, 1, 2)
	loc := g.msDeformLocations(ref, off, levels)
	if got := loc.Data[2:4]; math.Abs(got[0]-1) > 1e-15 || math.Abs(got[1]-0.3) > 1e-15 {
		t.Errorf("location %v, want (1, 0.3)", got)
	}
}
