// Package fmath has fast float32 versions of the transcendental functions
// on the training hot path (exp, sigmoid, softplus), accurate to a few
// float32 ulps. They are plain arithmetic on float32/float64 values, so
// their results are the same on every run and every GOMAXPROCS.
//
// The slice versions (ExpSlice, ExpSubSum, SigmoidSlice, SoftplusSlice,
// SigmoidSoftplusSlice, and Dot2 for the float64 sums next to them) run
// AVX-512 or AVX2+FMA assembly on amd64, with the same accuracy and
// determinism; see slice.go.
package fmath
