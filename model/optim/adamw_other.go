//go:build !amd64 || purego

package optim

// adamwVector has no vector kernel here: everything goes to adamwScalar.
func adamwVector(c *coeffs, p, g, m, v []float32) int { return 0 }
