package ckpt

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/model/engine"
	"github.com/mpanalyze/mpanalyze/model/optim"
)

// PutParams stores a copy of each parameter's Data and Shape as the array
// prefix+Name (use ParamPrefix for the model). Gradients and the NoDecay /
// LRMult settings are not stored (they come from the model's code).
func (c *Checkpoint) PutParams(prefix string, ps []*engine.Param[float32]) {
	if c.Arrays == nil {
		c.Arrays = map[string]Array{}
	}
	for _, p := range ps {
		c.Arrays[prefix+p.Name] = Array{Shape: slices.Clone(p.Shape), Data: slices.Clone(p.Data)}
	}
}

// GetParams copies the arrays prefix+Name into the parameters' Data. It
// returns an error, and changes no parameter, if an array is missing
// (ErrMissing), has another shape (ErrShape), or if the checkpoint holds an
// array under prefix that matches no parameter (ErrUnexpected: a checkpoint
// of a different model). Arrays under other prefixes are ignored.
func (c *Checkpoint) GetParams(prefix string, ps []*engine.Param[float32]) error {
	want := make(map[string]bool, len(ps))
	for _, p := range ps {
		name := prefix + p.Name
		want[name] = true
		a, ok := c.Arrays[name]
		if !ok {
			return fmt.Errorf("ckpt: %s: %w %q for parameter %q", c.where(), ErrMissing, name, p.Name)
		}
		if !slices.Equal(a.Shape, p.Shape) || len(a.Data) != len(p.Data) {
			return fmt.Errorf("ckpt: %s: array %q: %w: the file has %v, parameter %q has %v",
				c.where(), name, ErrShape, a.Shape, p.Name, p.Shape)
		}
	}
	if err := c.unexpected(prefix, want); err != nil {
		return err
	}
	for _, p := range ps {
		copy(p.Data, c.Arrays[prefix+p.Name].Data)
	}
	return nil
}

// unexpected reports arrays under prefix that are not in want.
func (c *Checkpoint) unexpected(prefix string, want map[string]bool) error {
	var extra []string
	for name := range c.Arrays {
		if strings.HasPrefix(name, prefix) && !want[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	more := ""
	if len(extra) > 5 {
		more = fmt.Sprintf(" and %d more", len(extra)-5)
		extra = extra[:5]
	}
	return fmt.Errorf("ckpt: %s: %w: %q%s match no parameter (a checkpoint of another model?)",
		c.where(), ErrUnexpected, extra, more)
}

// PutAdamW stores the optimiser's moments as adam_m/<name> and
// adam_v/<name> (each with its parameter's shape) and its step count and
// configuration in Meta.Optimizer.
func (c *Checkpoint) PutAdamW(o *optim.AdamW) {
	if c.Arrays == nil {
		c.Arrays = map[string]Array{}
	}
	st := o.State()
	for _, p := range o.Params() {
		c.Arrays[AdamMPrefix+p.Name] = Array{Shape: slices.Clone(p.Shape), Data: st.M[p.Name]}
		c.Arrays[AdamVPrefix+p.Name] = Array{Shape: slices.Clone(p.Shape), Data: st.V[p.Name]}
	}
	c.Meta.Optimizer = &OptimizerMeta{Name: "adamw", Step: st.Step, Config: o.Config()}
}

// GetAdamW restores the optimiser's moments and step count. The checks and
// errors are those of GetParams, per prefix, plus ErrMeta when
// Meta.Optimizer is absent or not "adamw"; on error the optimiser is
// unchanged. The stored configuration is informational: the optimiser
// keeps its own (a resumed run may change, say, the weight decay).
func (c *Checkpoint) GetAdamW(o *optim.AdamW) error {
	if c.Meta.Optimizer == nil {
		return fmt.Errorf("ckpt: %s: %w: no optimizer state", c.where(), ErrMeta)
	}
	if c.Meta.Optimizer.Name != "adamw" {
		return fmt.Errorf("ckpt: %s: %w: optimizer %q, want \"adamw\"", c.where(), ErrMeta, c.Meta.Optimizer.Name)
	}
	st := optim.AdamWState{Step: c.Meta.Optimizer.Step, M: map[string][]float32{}, V: map[string][]float32{}}
	for _, part := range []struct {
		prefix string
		dst    map[string][]float32
	}{{AdamMPrefix, st.M}, {AdamVPrefix, st.V}} {
		want := map[string]bool{}
		for _, p := range o.Params() {
			name := part.prefix + p.Name
			want[name] = true
			a, ok := c.Arrays[name]
			if !ok {
				return fmt.Errorf("ckpt: %s: %w %q for parameter %q", c.where(), ErrMissing, name, p.Name)
			}
			if !slices.Equal(a.Shape, p.Shape) || len(a.Data) != len(p.Data) {
				return fmt.Errorf("ckpt: %s: array %q: %w: the file has %v, parameter %q has %v",
					c.where(), name, ErrShape, a.Shape, p.Name, p.Shape)
			}
			part.dst[p.Name] = a.Data
		}
		if err := c.unexpected(part.prefix, want); err != nil {
			return err
		}
	}
	if err := o.SetState(st); err != nil {
		return fmt.Errorf("ckpt: %s: %w", c.where(), err)
	}
	return nil
}

// PutRNG stores r's state under name in Meta.RNG.
func (c *Checkpoint) PutRNG(name string, r *rng.RNG) {
	if c.Meta.RNG == nil {
		c.Meta.RNG = map[string]RNGState{}
	}
	c.Meta.RNG[name] = RNGState(r.State())
}

// GetRNG sets r to the state stored under name (ErrMeta if there is none).
func (c *Checkpoint) GetRNG(name string, r *rng.RNG) error {
	s, ok := c.Meta.RNG[name]
	if !ok {
		return fmt.Errorf("ckpt: %s: %w: no RNG state %q", c.where(), ErrMeta, name)
	}
	r.SetState(s)
	return nil
}
