package probes

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mpanalyze/mpanalyze/internal/finite"
)

// ErrTraceValue: a trace array holds a value no recorder writes (NaN, or
// ±Inf where it cannot come from float16 rounding).
var ErrTraceValue = errors.New("trace holds a value no recorder writes")

// CheckValues refuses the values of a trace's float array that no
// recorder writes, naming the trace file, the array and the first
// offending index (flat and per axis). name is the array's name in the
// .npz ("img3/mask_logits"), dtype its .npy descr ("<f4" or "<f2"), data
// its values (float16 arrays converted to float32).
//
// The rules:
//
//   - NaN is refused everywhere: the model refuses a stage with NaN or
//     ±Inf before it is probed (model.Evaluate), and the Python recorder
//     (mpanalyze_trace) stores what PyTorch computed, where NaN means a
//     broken model.
//   - ±Inf is refused in float32 arrays, for the same reason.
//   - ±Inf in a float16 mask logit array is accepted: it is a finite
//     float32 logit beyond ±65504 rounded by the float16 conversion
//     (f32ToF16), and the analysis reads only its sign (logit > 0).
//   - ±Inf in float16 class logits is refused: a class logit beyond
//     ±65504 has no softmax probability a matching could use.
//
// The trace reader calls it on every float array it decodes
// (mask_logits, class_logits and their mp_ twins), after converting
// float16 to float32 and before the values reach a probe, one piece of the
// array at a time (checkValuesAt).
func CheckValues(path, name, dtype string, shape []int, data []float32) error {
	return checkValuesAt(path, name, dtype, shape, 0, data)
}

// checkValuesAt is CheckValues on a piece of the array that starts at
// flat index base, so that the index named is the whole array's.
func checkValuesAt(path, name, dtype string, shape []int, base int, data []float32) error {
	i := finite.Index(data)
	if i < 0 {
		return nil
	}
	half := strings.HasSuffix(dtype, "f2")
	mask := strings.HasSuffix(name, "mask_logits")
	if half && mask {
		// Only NaN is wrong here.
		j := finite.IndexNaN(data[i:])
		if j < 0 {
			return nil
		}
		i += j
	}
	why := "no recorder writes NaN"
	switch {
	case data[i] == data[i] && !half:
		why = "float32 logits are finite (the model refuses a stage with ±Inf)"
	case data[i] == data[i]:
		why = "a class logit beyond ±65504 has no probability"
	}
	return &TraceError{Path: path, Entry: name, Kind: ErrTraceValue,
		Msg: fmt.Sprintf("%s at index %d %s of shape %v (%s)", finite.Describe(float64(data[i])), base+i, finite.Coords(shape, base+i), shape, why)}
}
