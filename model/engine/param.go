package engine

import "fmt"

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
