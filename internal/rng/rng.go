package rng

import (
	"math"
	"math/bits"
)

// RNG is a xoshiro256** generator. The zero value is not valid; use New.
// An RNG is not safe for concurrent use: give each goroutine its own,
// derived with New(Derive(seed, keys...)).
type RNG struct {
	s [4]uint64
}

// splitmix64 advances *x and returns the next output of SplitMix64.
func splitmix64(x *uint64) uint64 {
	*x += 0x9e3779b97f4a7c15
	z := *x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Derive mixes a seed with any number of keys (an image index, a step, a
// stream name's hash) into a new seed. Derive(s) != s, and different key
// sequences give unrelated seeds.
func Derive(seed uint64, keys ...uint64) uint64 {
	x := seed
	h := splitmix64(&x)
	for _, k := range keys {
		x = h ^ k
		h = splitmix64(&x)
	}
	return h
}

// New returns a generator seeded from seed.
func New(seed uint64) *RNG {
	r := &RNG{}
	x := seed
	for i := range r.s {
		r.s[i] = splitmix64(&x)
	}
	return r
}

// Uint64 returns the next 64 random bits.
func (r *RNG) Uint64() uint64 {
	s := &r.s
	result := bits.RotateLeft64(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = bits.RotateLeft64(s[3], 45)
	return result
}

// Float64 returns a uniform number in [0, 1) with 53 random bits.
func (r *RNG) Float64() float64 {
	return float64(r.Uint64()>>11) * (1.0 / (1 << 53))
}

// Float32 returns a uniform number in [0, 1) with 24 random bits.
func (r *RNG) Float32() float32 {
	return float32(r.Uint64()>>40) * (1.0 / (1 << 24))
}

// Uniform returns a uniform number in [lo, hi).
func (r *RNG) Uniform(lo, hi float64) float64 {
	return lo + (hi-lo)*r.Float64()
}

// IntN returns a uniform integer in [0, n). It panics if n <= 0.
// It uses Lemire's multiply-and-reject method, so it is exactly uniform.
func (r *RNG) IntN(n int) int {
	if n <= 0 {
		panic("rng: IntN with n <= 0")
	}
	bound := uint64(n)
	hi, lo := bits.Mul64(r.Uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), bound)
		}
	}
	return int(hi)
}

// Bernoulli returns true with probability p.
func (r *RNG) Bernoulli(p float64) bool { return r.Float64() < p }

// Normal returns a standard normal number (Box–Muller). It uses two
// uniforms per call and keeps no spare, so State captures the generator
// completely.
func (r *RNG) Normal() float64 {
	u1 := r.Float64()
	for u1 == 0 {
		u1 = r.Float64()
	}
	u2 := r.Float64()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// Perm returns a uniform random permutation of 0..n-1 (Fisher–Yates).
func (r *RNG) Perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// Shuffle permutes n elements with swap (Fisher–Yates, back to front).
func (r *RNG) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.IntN(i+1))
	}
}

// State returns the complete generator state, for checkpoints.
func (r *RNG) State() [4]uint64 { return r.s }

// SetState restores a state returned by State.
func (r *RNG) SetState(s [4]uint64) { r.s = s }
