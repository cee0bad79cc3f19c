// Package rng is the one seeded random number generator of mpanalyze.
//
// Every random draw in the toolkit (scene generation, augmentation, weight
// initialisation, point sampling, label and mask noise) comes from an RNG of
// this package, so a (seed, config) pair fixes a run bit for bit. The
// generator is xoshiro256** seeded through splitmix64; both are specified
// here in full, so their streams never change with the Go release (unlike
// the derived methods of math/rand/v2, whose outputs are not guaranteed to be
// stable across releases).
package rng
