package engine

import (
	"fmt"
	"strings"

	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// Float is the element type of the engine: float32 for training, float64
// for the finite-difference gradient checks.
type Float interface{ float32 | float64 }

// Tensor is a dense row-major n-d array that may take part in a Graph.
// Shape is explicit; Data has exactly prod(Shape) elements. Grad is nil
// until the backward pass reaches the tensor (or if it does not require
// gradients).
type Tensor[T Float] struct {
	Shape []int
	Data  []T
	Grad  []T
	// requiresGrad is true for bound parameters, leaves created with
	// Graph.Leaf, and every op output with such an input while the graph
	// records.
	requiresGrad bool
	// dataT is the transpose of Data for a bound 2-D parameter that is
	// frozen (Param.FreezeTransposed), else nil.
	dataT []T
	// reuse holds the GEMM's conversions of a tensor marked with
	// Graph.Reuse, else nil.
	reuse *operandCache
	// converted is a bound parameter's Param.converted (FreezeConverted).
	converted *[2]*gemm.Prepared
	// taps is a bound 3×3 kernel's Param.taps (FreezeConverted).
	taps *kernelTaps
}

// NumElems returns the product of shape.
func NumElems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Size is the number of elements.
func (t *Tensor[T]) Size() int { return len(t.Data) }

// Dims is the number of dimensions.
func (t *Tensor[T]) Dims() int { return len(t.Shape) }

// Dim returns dimension i; negative i counts from the end.
func (t *Tensor[T]) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// RequiresGrad reports whether gradients flow to this tensor.
func (t *Tensor[T]) RequiresGrad() bool { return t.requiresGrad }

func (t *Tensor[T]) String() string {
	return fmt.Sprintf("Tensor%v", t.Shape)
}

func shapeStr(s []int) string {
	p := make([]string, len(s))
	for i, d := range s {
		p[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(p, ",") + "]"
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ErrShape-style panics: shape errors are programmer errors and panic with
// an "engine:" prefix naming the op and the shapes.
func shapePanic(op string, shapes ...[]int) {
	p := make([]string, len(shapes))
	for i, s := range shapes {
		p[i] = shapeStr(s)
	}
	panic(fmt.Sprintf("engine: %s: incompatible shapes %s", op, strings.Join(p, " ")))
}
