package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// in is one input of a gradient check: a shape, and whether gradients
// should flow to it (constants test that ops leave them alone).
type in struct {
	shape  []int
	noGrad bool
	data   []float64 // nil: random normal values
}

// gradcheck compares the analytic gradient of Σ f(x)⊙R (R a fixed random
// tensor, so every output element matters) with central finite
// differences, all in float64. It fails when any element differs by more
// than atol + rtol·|numeric|.
func gradcheck(t *testing.T, name string, ins []in, f func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64]) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(len(name)), 99))
	data := make([][]float64, len(ins))
	for i, s := range ins {
		if s.data != nil {
			data[i] = append([]float64(nil), s.data...)
			continue
		}
		data[i] = make([]float64, NumElems(s.shape))
		for j := range data[i] {
			data[i][j] = r.NormFloat64()
		}
	}
	build := func(g *Graph[float64]) []*Tensor[float64] {
		xs := make([]*Tensor[float64], len(ins))
		for i, s := range ins {
			if s.noGrad {
				xs[i] = g.Const(data[i], s.shape...)
			} else {
				xs[i] = g.Leaf(data[i], s.shape...)
			}
		}
		return xs
	}
	// output weights
	g0 := NewGraph[float64]()
	out0 := f(g0, build(g0))
	R := make([]float64, len(out0.Data))
	for i := range R {
		R[i] = r.NormFloat64()
	}
	loss := func() float64 {
		g := NewGraph[float64]()
		g.SetGrad(false)
		out := f(g, build(g))
		s := 0.0
		for i, v := range out.Data {
			s += v * R[i]
		}
		return s
	}
	g := NewGraph[float64]()
	xs := build(g)
	out := f(g, xs)
	l := g.SumAll(g.Mul(out, g.Const(R, out.Shape...)))
	g.Backward(l)
	const h, atol, rtol = 1e-6, 1e-6, 1e-5
	for i, s := range ins {
		if s.noGrad {
			if xs[i].Grad != nil {
				t.Errorf("%s: constant input %d received a gradient", name, i)
			}
			continue
		}
		for j := range data[i] {
			orig := data[i][j]
			data[i][j] = orig + h
			fp := loss()
			data[i][j] = orig - h
			fm := loss()
			data[i][j] = orig
			num := (fp - fm) / (2 * h)
			ana := 0.0
			if xs[i].Grad != nil {
				ana = xs[i].Grad[j]
			}
			if math.IsNaN(ana) || math.Abs(ana-num) > atol+rtol*math.Abs(num) {
				t.Errorf("%s: input %d elem %d: analytic %.9g numeric %.9g", name, i, j, ana, num)
				return
			}
		}
	}
}

func TestGradMatMul(t *testing.T) {
	for _, c := range []struct{ m, k, n int }{{3, 4, 5}, {1, 3, 1}, {2, 1, 3}, {1, 1, 1}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				as := []int{c.m, c.k}
				if ta {
					as = []int{c.k, c.m}
				}
				bs := []int{c.k, c.n}
				if tb {
					bs = []int{c.n, c.k}
				}
				name := fmt.Sprintf("MatMul%v ta=%v tb=%v", c, ta, tb)
				gradcheck(t, name, []in{{shape: as}, {shape: bs}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
					return g.MatMulScaled(x[0], x[1], ta, tb, 0.7)
				})
				gradcheck(t, "B"+name, []in{{shape: append([]int{2}, as...)}, {shape: append([]int{2}, bs...)}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
					return g.BatchedMatMul(x[0], x[1], ta, tb, 1.3)
				})
			}
		}
	}
}

func TestGradLinear(t *testing.T) {
	gradcheck(t, "Linear", []in{{shape: []int{2, 3, 4}}, {shape: []int{5, 4}}, {shape: []int{5}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Linear(x[0], x[1], x[2])
	})
	gradcheck(t, "LinearNoBias", []in{{shape: []int{1, 4}}, {shape: []int{1, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Linear(x[0], x[1], nil)
	})
	gradcheck(t, "LinearConstX", []in{{shape: []int{3, 2}, noGrad: true}, {shape: []int{2, 2}}, {shape: []int{2}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Linear(x[0], x[1], x[2])
	})
}

func TestGradElementwise(t *testing.T) {
	pairs := [][2][]int{
		{{2, 3}, {2, 3}},
		{{2, 3, 4}, {3, 1}},
		{{1}, {2, 3}},
		{{4}, {2, 1, 4}},
		{{2, 1, 3}, {1, 4, 1}},
		{{1, 1}, {1, 1}},
		{{2, 3, 4}, {3, 4}}, // b tiles a (Add's tiled path)
		{{2, 3, 4}, {1, 4}}, // so does b without its leading 1
		{{3, 2, 4}, {4}},
	}
	ops := map[string]func(g *Graph[float64], a, b *Tensor[float64]) *Tensor[float64]{
		"Add": (*Graph[float64]).Add, "Sub": (*Graph[float64]).Sub, "Mul": (*Graph[float64]).Mul,
		"Div": func(g *Graph[float64], a, b *Tensor[float64]) *Tensor[float64] {
			return g.Div(a, g.AddScalar(g.Mul(b, b), 0.5)) // keep the divisor away from 0
		},
	}
	for name, op := range ops {
		for _, p := range pairs {
			gradcheck(t, fmt.Sprintf("%s%v", name, p), []in{{shape: p[0]}, {shape: p[1]}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
				return op(g, x[0], x[1])
			})
		}
	}
	unary := map[string]func(g *Graph[float64], a *Tensor[float64]) *Tensor[float64]{
		"Scale":     func(g *Graph[float64], a *Tensor[float64]) *Tensor[float64] { return g.Scale(a, -1.5) },
		"AddScalar": func(g *Graph[float64], a *Tensor[float64]) *Tensor[float64] { return g.AddScalar(a, 2) },
		"ReLU":      (*Graph[float64]).ReLU,
		"GELU":      (*Graph[float64]).GELU,
		"Sigmoid":   (*Graph[float64]).Sigmoid,
	}
	for name, op := range unary {
		for _, s := range [][]int{{3, 4}, {1}, {2, 1, 5}} {
			gradcheck(t, fmt.Sprintf("%s%v", name, s), []in{{shape: s}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
				return op(g, x[0])
			})
		}
	}
}

func TestGradShapeOps(t *testing.T) {
	gradcheck(t, "Reshape", []in{{shape: []int{2, 6}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Mul(g.Reshape(x[0], 3, -1), g.Reshape(x[0], 3, 4)) // reused input: gradients add up
	})
	gradcheck(t, "Permute3", []in{{shape: []int{2, 3, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Permute(x[0], 2, 0, 1)
	})
	gradcheck(t, "Permute4", []in{{shape: []int{2, 1, 3, 2}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Permute(x[0], 1, 3, 0, 2)
	})
	for _, axis := range []int{0, 1, -1} {
		gradcheck(t, fmt.Sprintf("Concat%d", axis), []in{{shape: []int{2, 3, 2}}, {shape: []int{2, 3, 2}}, {shape: []int{2, 3, 2}, noGrad: true}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			return g.Concat(axis, x[0], x[1], x[2])
		})
	}
	gradcheck(t, "Slice0", []in{{shape: []int{5, 3}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Slice(x[0], 0, 1, 4)
	})
	gradcheck(t, "Slice1", []in{{shape: []int{2, 5, 3}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Slice(x[0], 1, 2, 5)
	})
	gradcheck(t, "SliceEmpty", []in{{shape: []int{2, 5}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Concat(1, g.Slice(x[0], 1, 2, 2), g.Slice(x[0], 1, 0, 1))
	})
	gradcheck(t, "IndexSelect", []in{{shape: []int{2, 4, 3}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.IndexSelect(x[0], 1, []int{3, 0, 3})
	})
	gradcheck(t, "Embedding", []in{{shape: []int{5, 3}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Embedding(x[0], []int{4, 4, 1})
	})
	gradcheck(t, "Gather", []in{{shape: []int{2, 3}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Gather(x[0], 1, []int{2, 2, 0, 1, 1, 1, 0, 2}, []int{2, 4})
	})
	for _, axis := range []int{0, 1, 2} {
		gradcheck(t, fmt.Sprintf("Sum%d", axis), []in{{shape: []int{2, 3, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			return g.Sum(x[0], axis)
		})
		gradcheck(t, fmt.Sprintf("Mean%d", axis), []in{{shape: []int{2, 1, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			return g.Mean(x[0], axis)
		})
	}
	gradcheck(t, "SumAllMeanAllAddN", []in{{shape: []int{3, 2}}, {shape: []int{3, 2}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.AddN(g.SumAll(x[0]), g.MeanAll(x[1]), g.SumAll(g.Mul(x[0], x[1])))
	})
}

func TestGradConv2d(t *testing.T) {
	cases := []struct {
		x, w        []int
		stride, pad int
		bias        bool
	}{
		{[]int{1, 2, 5, 5}, []int{3, 2, 3, 3}, 1, 1, true},
		{[]int{2, 2, 6, 5}, []int{2, 2, 3, 3}, 2, 1, true},
		{[]int{1, 3, 4, 4}, []int{2, 3, 1, 1}, 1, 0, true},  // direct 1×1 path
		{[]int{1, 1, 5, 4}, []int{2, 1, 2, 3}, 1, 0, false}, // non-square kernel, no padding
		{[]int{1, 2, 7, 7}, []int{1, 2, 3, 3}, 3, 2, true},  // stride 3 with wide padding
		{[]int{1, 1, 1, 1}, []int{1, 1, 3, 3}, 1, 1, false}, // 1×1 image
		{[]int{3, 2, 5, 4}, []int{3, 2, 3, 3}, 1, 1, true},  // ≥ 3 images: dwᵀ accumulated
	}
	for i, c := range cases {
		ins := []in{{shape: c.x}, {shape: c.w}}
		if c.bias {
			ins = append(ins, in{shape: []int{c.w[0]}})
		}
		gradcheck(t, fmt.Sprintf("Conv2d case %d", i), ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			var b *Tensor[float64]
			if c.bias {
				b = x[2]
			}
			return g.Conv2d(x[0], x[1], b, ConvSpec{Stride: c.stride, Pad: c.pad})
		})
	}
	// one weight in two convolutions of three images: the second backward
	// adds its dwᵀ sums to the gradient the first wrote
	gradcheck(t, "Conv2d shared weight", []in{{shape: []int{3, 2, 5, 4}}, {shape: []int{3, 2, 3, 3}}, {shape: []int{3, 2, 5, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Add(g.Conv2d(x[0], x[1], nil, ConvSpec{Stride: 1, Pad: 1}), g.Conv2d(x[2], x[1], nil, ConvSpec{Stride: 1, Pad: 1}))
	})
}

func TestGradNorms(t *testing.T) {
	for _, groups := range []int{1, 2, 4} {
		gradcheck(t, fmt.Sprintf("GroupNorm%d", groups), []in{{shape: []int{2, 4, 3, 2}}, {shape: []int{4}}, {shape: []int{4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			return g.GroupNorm(x[0], x[1], x[2], groups, 1e-5)
		})
	}
	// the ReLU's kinks are where x̂·γ + β = 0: random inputs stay clear
	// of them by more than the finite-difference step
	for _, groups := range []int{1, 2} {
		gradcheck(t, fmt.Sprintf("GroupNormReLU%d", groups), []in{{shape: []int{2, 4, 3, 2}}, {shape: []int{4}}, {shape: []int{4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			return g.GroupNormReLU(x[0], x[1], x[2], groups, 1e-5)
		})
	}
	gradcheck(t, "LayerNorm", []in{{shape: []int{3, 5}}, {shape: []int{5}}, {shape: []int{5}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.LayerNorm(x[0], x[1], x[2], 1e-5)
	})
	gradcheck(t, "LayerNorm1row", []in{{shape: []int{1, 2}}, {shape: []int{2}}, {shape: []int{2}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.LayerNorm(x[0], x[1], x[2], 1e-5)
	})
}

func TestGradSoftmax(t *testing.T) {
	blocked := []bool{
		false, true, false, false,
		true, true, true, true, // fully masked row
		false, false, false, true,
	}
	add := []float64{0, -1, 2, 0.5, 0, 0, 0, 0, 1, math.Inf(-1), 0, 0}
	gradcheck(t, "Softmax", []in{{shape: []int{3, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Softmax(x[0], nil, nil)
	})
	gradcheck(t, "SoftmaxBlocked", []in{{shape: []int{2, 3, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Softmax(x[0], nil, blocked) // broadcast over the leading 2
	})
	gradcheck(t, "SoftmaxAdditive", []in{{shape: []int{3, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Softmax(x[0], add, blocked)
	})
	gradcheck(t, "SoftmaxL1", []in{{shape: []int{3, 1}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.Softmax(x[0], nil, nil)
	})
}

func TestGradAttention(t *testing.T) {
	const D, H, Lq, Lk = 8, 2, 3, 5
	ws := []in{{shape: []int{D, D}}, {shape: []int{D}}, {shape: []int{D, D}}, {shape: []int{D}}, {shape: []int{D, D}}, {shape: []int{D}}, {shape: []int{D, D}}, {shape: []int{D}}}
	r := rand.New(rand.NewPCG(5, 5))
	shared := make([]bool, Lq*Lk)
	perHead := make([]bool, H*Lq*Lk)
	for i := range shared {
		shared[i] = r.IntN(3) == 0
	}
	for i := 0; i < Lk; i++ {
		shared[Lk+i] = true // row 1 fully blocked
	}
	for i := range perHead {
		perHead[i] = r.IntN(2) == 0
	}
	for _, mask := range [][]bool{nil, shared, perHead} {
		for _, pos := range []bool{false, true} {
			ins := append([]in{{shape: []int{Lq, D}}, {shape: []int{Lk, D}}, {shape: []int{Lk, D}}, {shape: []int{Lq, D}}, {shape: []int{Lk, D}, noGrad: true}}, ws...)
			gradcheck(t, fmt.Sprintf("Attention mask=%d pos=%v", len(mask), pos), ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
				w := AttnWeights[float64]{x[5], x[6], x[7], x[8], x[9], x[10], x[11], x[12]}
				var qp, kp *Tensor[float64]
				if pos {
					qp, kp = x[3], x[4]
				}
				return g.Attention(x[0], x[1], x[2], qp, kp, w, H, mask)
			})
		}
	}
	// self-attention: query, key and value are the same tensor
	ins := append([]in{{shape: []int{Lq, D}}, {shape: []int{Lq, D}}}, ws...)
	gradcheck(t, "SelfAttention", ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		w := AttnWeights[float64]{x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9]}
		return g.Attention(x[0], x[0], x[0], x[1], x[1], w, H, nil)
	})
	// a batch of three items: shared positions, one mask per item (shared,
	// none, per head), and batched self-attention with per-item positions
	const N = 3
	ins = append([]in{{shape: []int{N, Lq, D}}, {shape: []int{N, Lk, D}}, {shape: []int{N, Lk, D}}, {shape: []int{Lq, D}}, {shape: []int{Lk, D}, noGrad: true}}, ws...)
	gradcheck(t, "AttentionBatch", ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		w := AttnWeights[float64]{x[5], x[6], x[7], x[8], x[9], x[10], x[11], x[12]}
		return g.AttentionBatch(x[0], x[1], x[2], x[3], x[4], w, H, [][]bool{shared, nil, perHead})
	})
	ins = append([]in{{shape: []int{N, Lq, D}}, {shape: []int{N, Lq, D}}}, ws...)
	gradcheck(t, "SelfAttentionBatch", ins, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		w := AttnWeights[float64]{x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9]}
		return g.AttentionBatch(x[0], x[0], x[0], x[1], x[1], w, H, nil)
	})
}

func TestGradResize(t *testing.T) {
	for _, c := range [][4]int{{3, 4, 7, 9}, {8, 8, 3, 5}, {1, 1, 2, 2}, {4, 4, 4, 4}, {5, 3, 1, 1}, {3, 4, 6, 8}} {
		gradcheck(t, fmt.Sprintf("Bilinear%v", c), []in{{shape: []int{2, c[0], c[1]}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			return g.ResizeBilinear(x[0], c[2], c[3])
		})
		gradcheck(t, fmt.Sprintf("Nearest%v", c), []in{{shape: []int{1, 2, c[0], c[1]}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
			return g.ResizeNearest(x[0], c[2], c[3])
		})
	}
	pts := []float64{0.5, 0.5, 0, 0, 1, 1, 0.01, 0.99, 0.3, 0.71, 1.2, -0.1}
	gradcheck(t, "PointSample", []in{{shape: []int{2, 4, 5}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.PointSample(x[0], pts)
	})
}

func TestGradLosses(t *testing.T) {
	gradcheck(t, "CrossEntropy", []in{{shape: []int{4, 3}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.CrossEntropy(x[0], []int{2, 0, -1, 2}, []float64{1, 0.5, 0.1})
	})
	gradcheck(t, "CrossEntropySum", []in{{shape: []int{4, 3}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.CrossEntropySum(x[0], []int{2, 0, -1, 1}, []float64{1, 0.5, 0.1})
	})
	gradcheck(t, "CrossEntropyUnweighted", []in{{shape: []int{1, 2}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.CrossEntropy(x[0], []int{1}, nil)
	})
	tg := []float64{0, 1, 0.25, 1, 0, 0, 0, 0} // second row: empty target
	gradcheck(t, "BCE", []in{{shape: []int{2, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.BCEWithLogits(x[0], tg)
	})
	gradcheck(t, "Dice", []in{{shape: []int{2, 4}}}, func(g *Graph[float64], x []*Tensor[float64]) *Tensor[float64] {
		return g.DiceLoss(x[0], tg)
	})
}
