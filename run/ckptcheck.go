package run

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mpanalyze/mpanalyze/internal/finite"
	"github.com/mpanalyze/mpanalyze/model/ckpt"
)

// ErrBadValue is returned (wrapped) when a checkpoint holds a value no
// training run writes: NaN or ±Inf in an array, a negative AdamW second
// moment, a negative step, or a stored run config out of range.
var ErrBadValue = errors.New("value out of range")

// checkValues refuses a loaded checkpoint with a value no run writes,
// naming the file, the array and the first offending index. A run stops
// on the first non-finite loss before it can save (model.Trainer), so
// NaN and ±Inf have no meaning in any array.
func checkValues(path string, f *ckpt.Checkpoint) error {
	if f.Meta.Step < 0 {
		return fmt.Errorf("run: %s: meta.json step %d: %w (want ≥ 0)", path, f.Meta.Step, ErrBadValue)
	}
	for _, name := range slices.Sorted(maps.Keys(f.Arrays)) {
		a := f.Arrays[name]
		if i := finite.Index(a.Data); i >= 0 {
			return fmt.Errorf("run: %s: array %q holds %s at index %d %s: %w (checkpoints hold finite values only)",
				path, name, finite.Describe(float64(a.Data[i])), i, finite.Coords(a.Shape, i), ErrBadValue)
		}
		if strings.HasPrefix(name, ckpt.AdamVPrefix) {
			for i, v := range a.Data {
				if v < 0 {
					return fmt.Errorf("run: %s: array %q holds %g at index %d %s: %w (AdamW second moments are ≥ 0)",
						path, name, v, i, finite.Coords(a.Shape, i), ErrBadValue)
				}
			}
		}
	}
	return nil
}
