package engine

import (
	"fmt"
	"slices"
)

// splitAxis views a shape as [outer, shape[axis], inner].
func splitAxis(shape []int, axis int) (outer, n, inner int) {
	outer, inner = 1, 1
	for i := 0; i < axis; i++ {
		outer *= shape[i]
	}
	for i := axis + 1; i < len(shape); i++ {
		inner *= shape[i]
	}
	return outer, shape[axis], inner
}

func normAxis(op string, axis, dims int) int {
	if axis < 0 {
		axis += dims
	}
	if axis < 0 || axis >= dims {
		panic(fmt.Sprintf("engine: %s: axis %d out of range for %d dims", op, axis, dims))
	}
	return axis
}

// Reshape returns a with a new shape of the same size; one dimension may
// be −1 and is inferred. The data is shared. Backward: da += G.
func (g *Graph[T]) Reshape(a *Tensor[T], shape ...int) *Tensor[T] {
	shape = slices.Clone(shape)
	infer, n := -1, 1
	for i, d := range shape {
		if d == -1 {
			if infer >= 0 {
				shapePanic("Reshape", a.Shape, shape)
			}
			infer = i
			continue
		}
		n *= d
	}
	if infer >= 0 && n > 0 {
		shape[infer] = len(a.Data) / n
		n *= shape[infer]
	}
	if n != len(a.Data) {
		shapePanic("Reshape", a.Shape, shape)
	}
	out := &Tensor[T]{Shape: shape, Data: a.Data, requiresGrad: g.needs(a)}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad != nil {
				g.passGrad(a, out.Grad)
			}
		})
	}
	return out
}

// Permute returns a with its dimensions reordered: out dim i is a's dim
// perm[i] (torch.permute). Backward: the inverse permutation of G.
func (g *Graph[T]) Permute(a *Tensor[T], perm ...int) *Tensor[T] {
	nd := a.Dims()
	if len(perm) != nd {
		shapePanic("Permute", a.Shape, perm)
	}
	shape := make([]int, nd)
	stride := make([]int, nd) // a's stride for each out dim
	aStride := make([]int, nd)
	s := 1
	for i := nd - 1; i >= 0; i-- {
		aStride[i] = s
		s *= a.Shape[i]
	}
	seen := make([]bool, nd)
	for i, p := range perm {
		if p < 0 || p >= nd || seen[p] {
			shapePanic("Permute", a.Shape, perm)
		}
		seen[p] = true
		shape[i] = a.Shape[p]
		stride[i] = aStride[p]
	}
	out := g.newTensor(shape, g.needs(a))
	permuteCopy(out.Data, a.Data, shape, stride, false)
	if out.requiresGrad {
		g.push(func() {
			if out.Grad != nil {
				permuteCopy(out.Grad, g.grad(a), shape, stride, true)
			}
		})
	}
	return out
}

// permuteCopy walks the output (shape) in order; src offset follows
// stride. With back set it accumulates out into src instead: src[off] += out[i].
func permuteCopy[T Float](out, src []T, shape, stride []int, back bool) {
	nd := len(shape)
	if len(out) == 0 {
		return
	}
	idx := make([]int, nd)
	off := 0
	inner, istr := shape[nd-1], stride[nd-1]
	for o := 0; o < len(out); o += inner {
		if back {
			for j := 0; j < inner; j++ {
				src[off+j*istr] += out[o+j]
			}
		} else {
			for j := 0; j < inner; j++ {
				out[o+j] = src[off+j*istr]
			}
		}
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			off += stride[d]
			if idx[d] < shape[d] {
				break
			}
			off -= stride[d] * shape[d]
			idx[d] = 0
		}
	}
}

// Concat joins tensors along axis; all other dims must agree.
// Backward: each input gets its slice of G.
func (g *Graph[T]) Concat(axis int, ts ...*Tensor[T]) *Tensor[T] {
	if len(ts) == 0 {
		panic("engine: Concat of nothing")
	}
	axis = normAxis("Concat", axis, ts[0].Dims())
	shape := slices.Clone(ts[0].Shape)
	shape[axis] = 0
	for _, t := range ts {
		if t.Dims() != len(shape) {
			shapePanic("Concat", ts[0].Shape, t.Shape)
		}
		for d := range shape {
			if d != axis && t.Shape[d] != shape[d] {
				shapePanic("Concat", ts[0].Shape, t.Shape)
			}
		}
		shape[axis] += t.Shape[axis]
	}
	out := g.newTensor(shape, g.needs(ts...))
	outer, total, inner := splitAxis(shape, axis)
	off := 0
	for _, t := range ts {
		n := t.Shape[axis] * inner
		for o := 0; o < outer; o++ {
			copy(out.Data[o*total*inner+off:o*total*inner+off+n], t.Data[o*n:(o+1)*n])
		}
		off += n
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			off := 0
			for _, t := range ts {
				n := t.Shape[axis] * inner
				if t.requiresGrad {
					dt := g.grad(t)
					for o := 0; o < outer; o++ {
						axpy(dt[o*n:(o+1)*n], 1, out.Grad[o*total*inner+off:o*total*inner+off+n])
					}
				}
				off += n
			}
		})
	}
	return out
}

// Slice returns a[..., start:end, ...] along axis. Backward: G goes back
// into the sliced range.
func (g *Graph[T]) Slice(a *Tensor[T], axis, start, end int) *Tensor[T] {
	axis = normAxis("Slice", axis, a.Dims())
	if start < 0 || end > a.Shape[axis] || start > end {
		panic(fmt.Sprintf("engine: Slice [%d:%d] of dim %d (size %d)", start, end, axis, a.Shape[axis]))
	}
	outer, n, inner := splitAxis(a.Shape, axis)
	shape := slices.Clone(a.Shape)
	shape[axis] = end - start
	m := (end - start) * inner
	if outer == 1 { // contiguous: share the data
		out := &Tensor[T]{Shape: shape, Data: a.Data[start*inner : end*inner], requiresGrad: g.needs(a)}
		if out.requiresGrad {
			g.push(func() {
				if out.Grad != nil {
					axpy(g.grad(a)[start*inner:end*inner], 1, out.Grad)
				}
			})
		}
		return out
	}
	out := g.newTensor(shape, g.needs(a))
	for o := 0; o < outer; o++ {
		copy(out.Data[o*m:(o+1)*m], a.Data[o*n*inner+start*inner:o*n*inner+end*inner])
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			da := g.grad(a)
			for o := 0; o < outer; o++ {
				axpy(da[o*n*inner+start*inner:o*n*inner+end*inner], 1, out.Grad[o*m:(o+1)*m])
			}
		})
	}
	return out
}

// BatchItem returns item n of a batch tensor a [N, ...] as a tensor [...]
// that shares a's data and, unlike Slice, its gradient buffer: the ops
// that use the item add their gradients straight into a's, in the order
// they run, as they would into a tensor of its own (no extra addition, so
// no bit of a per-item computation changes when items are batched). The
// item's data must not be written.
func (g *Graph[T]) BatchItem(a *Tensor[T], n int) *Tensor[T] {
	if a.Dims() < 2 || n < 0 || n >= a.Shape[0] {
		panic(fmt.Sprintf("engine: BatchItem %d of shape %v", n, a.Shape))
	}
	m := len(a.Data) / a.Shape[0]
	return g.view(a, a.Shape[1:], n*m, m)
}

// Rows returns rows [start, end) of a along its first axis, sharing a's
// data and, like BatchItem and unlike Slice, its gradient buffer: the
// rows' consumers add their gradients straight into a's (where Slice
// collects them in a buffer of its own and adds that to a's, which gives
// the same bits when nothing else adds to those rows of a first). The
// rows' data must not be written.
func (g *Graph[T]) Rows(a *Tensor[T], start, end int) *Tensor[T] {
	if a.Dims() < 1 || start < 0 || end > a.Shape[0] || start > end {
		panic(fmt.Sprintf("engine: Rows [%d:%d] of shape %v", start, end, a.Shape))
	}
	m := len(a.Data) / max(a.Shape[0], 1)
	shape := slices.Clone(a.Shape)
	shape[0] = end - start
	return g.view(a, shape, start*m, (end-start)*m)
}

// View returns a with a new shape of the same size, sharing its data and,
// unlike Reshape, its gradient buffer (see BatchItem): a gradient added
// to the view is added to a's by the same operation, with no extra
// addition, so a computation gives the same bits through a view as on a.
// The view's data must not be written.
func (g *Graph[T]) View(a *Tensor[T], shape ...int) *Tensor[T] {
	if NumElems(shape) != len(a.Data) {
		shapePanic("View", a.Shape, shape)
	}
	return g.view(a, shape, 0, len(a.Data))
}

// view is the tensor of shape over a's elements [off, off+n), sharing
// data and gradient buffer.
func (g *Graph[T]) view(a *Tensor[T], shape []int, off, n int) *Tensor[T] {
	out := &Tensor[T]{Shape: slices.Clone(shape), Data: a.Data[off : off+n], requiresGrad: g.needs(a)}
	if out.requiresGrad {
		out.Grad = g.grad(a)[off : off+n]
	}
	return out
}

// IndexSelect returns the entries idx of a along axis (torch.index_select);
// indices may repeat. Backward: scatter-add of G into the selected entries.
func (g *Graph[T]) IndexSelect(a *Tensor[T], axis int, idx []int) *Tensor[T] {
	axis = normAxis("IndexSelect", axis, a.Dims())
	outer, n, inner := splitAxis(a.Shape, axis)
	for _, i := range idx {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("engine: IndexSelect index %d out of range [0,%d)", i, n))
		}
	}
	idx = slices.Clone(idx)
	shape := slices.Clone(a.Shape)
	shape[axis] = len(idx)
	out := g.newTensor(shape, g.needs(a))
	k := len(idx)
	for o := 0; o < outer; o++ {
		for j, i := range idx {
			copy(out.Data[(o*k+j)*inner:(o*k+j+1)*inner], a.Data[(o*n+i)*inner:(o*n+i+1)*inner])
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			da := g.grad(a)
			for o := 0; o < outer; o++ {
				for j, i := range idx {
					axpy(da[(o*n+i)*inner:(o*n+i+1)*inner], 1, out.Grad[(o*k+j)*inner:(o*k+j+1)*inner])
				}
			}
		})
	}
	return out
}

// Embedding returns the rows ids of the table w [V, D] (nn.Embedding):
// out [len(ids), D]. Backward: scatter-add into the used rows.
func (g *Graph[T]) Embedding(w *Tensor[T], ids []int) *Tensor[T] {
	if w.Dims() != 2 {
		shapePanic("Embedding", w.Shape)
	}
	return g.IndexSelect(w, 0, ids)
}

// Gather returns out[..., j, ...] = a[..., idx[...j...], ...] along axis
// (torch.gather): idx has the shape of out, which equals a's shape except
// along axis. Backward: scatter-add.
func (g *Graph[T]) Gather(a *Tensor[T], axis int, idx []int, idxShape []int) *Tensor[T] {
	axis = normAxis("Gather", axis, a.Dims())
	if len(idxShape) != a.Dims() || NumElems(idxShape) != len(idx) {
		shapePanic("Gather", a.Shape, idxShape)
	}
	for d := range idxShape {
		if d != axis && idxShape[d] != a.Shape[d] {
			shapePanic("Gather", a.Shape, idxShape)
		}
	}
	outer, n, inner := splitAxis(a.Shape, axis)
	k := idxShape[axis]
	idx = slices.Clone(idx)
	out := g.newTensor(idxShape, g.needs(a))
	src := func(o, j, r int) int {
		i := idx[(o*k+j)*inner+r]
		if i < 0 || i >= n {
			panic(fmt.Sprintf("engine: Gather index %d out of range [0,%d)", i, n))
		}
		return (o*n+i)*inner + r
	}
	for o := 0; o < outer; o++ {
		for j := 0; j < k; j++ {
			for r := 0; r < inner; r++ {
				out.Data[(o*k+j)*inner+r] = a.Data[src(o, j, r)]
			}
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			da := g.grad(a)
			for o := 0; o < outer; o++ {
				for j := 0; j < k; j++ {
					for r := 0; r < inner; r++ {
						da[src(o, j, r)] += out.Grad[(o*k+j)*inner+r]
					}
				}
			}
		})
	}
	return out
}

// Sum reduces a over axis (the axis is removed). Backward: G broadcast
// back over the axis.
func (g *Graph[T]) Sum(a *Tensor[T], axis int) *Tensor[T] { return g.reduce("Sum", a, axis, 1) }

// Mean averages a over axis (the axis is removed). Backward: G/n broadcast
// back over the axis.
func (g *Graph[T]) Mean(a *Tensor[T], axis int) *Tensor[T] {
	axis = normAxis("Mean", axis, a.Dims())
	n := a.Shape[axis]
	if n == 0 {
		panic("engine: Mean over an empty axis")
	}
	return g.reduce("Mean", a, axis, 1/T(n))
}

func (g *Graph[T]) reduce(op string, a *Tensor[T], axis int, scale T) *Tensor[T] {
	axis = normAxis(op, axis, a.Dims())
	outer, n, inner := splitAxis(a.Shape, axis)
	shape := slices.Delete(slices.Clone(a.Shape), axis, axis+1)
	out := g.newZero(shape, g.needs(a))
	for o := 0; o < outer; o++ {
		dst := out.Data[o*inner : (o+1)*inner]
		for i := 0; i < n; i++ {
			axpy(dst, 1, a.Data[(o*n+i)*inner:(o*n+i+1)*inner])
		}
		if scale != 1 {
			for j := range dst {
				dst[j] *= scale
			}
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			da := g.grad(a)
			for o := 0; o < outer; o++ {
				G := out.Grad[o*inner : (o+1)*inner]
				for i := 0; i < n; i++ {
					axpy(da[(o*n+i)*inner:(o*n+i+1)*inner], scale, G)
				}
			}
		})
	}
	return out
}

// SumAll returns the sum of all elements as a scalar tensor [1] (summed
// in index order). Backward: da += G.
func (g *Graph[T]) SumAll(a *Tensor[T]) *Tensor[T] { return g.sumAll(a, 1) }

// MeanAll returns the mean of all elements as a scalar tensor [1].
func (g *Graph[T]) MeanAll(a *Tensor[T]) *Tensor[T] {
	if len(a.Data) == 0 {
		panic("engine: MeanAll of an empty tensor")
	}
	return g.sumAll(a, 1/T(len(a.Data)))
}

func (g *Graph[T]) sumAll(a *Tensor[T], scale T) *Tensor[T] {
	out := g.newTensor([]int{1}, g.needs(a))
	var s float64
	for _, v := range a.Data {
		s += float64(v)
	}
	out.Data[0] = T(s) * scale
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			da := g.grad(a)
			gv := out.Grad[0] * scale
			for i := range da {
				da[i] += gv
			}
		})
	}
	return out
}

// AddN returns the sum of scalar or same-shape tensors, in order.
func (g *Graph[T]) AddN(ts ...*Tensor[T]) *Tensor[T] {
	if len(ts) == 0 {
		panic("engine: AddN of nothing")
	}
	for _, t := range ts[1:] {
		if !sameShape(t.Shape, ts[0].Shape) {
			shapePanic("AddN", ts[0].Shape, t.Shape)
		}
	}
	out := g.newZero(ts[0].Shape, g.needs(ts...))
	for _, t := range ts {
		axpy(out.Data, 1, t.Data)
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			for _, t := range ts {
				if t.requiresGrad {
					axpy(g.grad(t), 1, out.Grad)
				}
			}
		})
	}
	return out
}
