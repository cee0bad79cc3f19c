package gemm

import "fmt"

// checkSgemm panics with a "gemm:" message when the arguments of an Sgemm
// call are inconsistent: negative sizes, strides smaller than a stored row,
// or slices too short for the matrices they hold.
func checkSgemm(tA, tB bool, m, n, k int, lda, ldb, ldc int, la, lb, lc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	// Stored shapes (row-major): A is m×k, or k×m when tA; B is k×n, or n×k when tB.
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	checkMat("a", ar, ac, lda, la)
	checkMat("b", br, bc, ldb, lb)
	checkMat("c", m, n, ldc, lc)
}

func checkMat(name string, rows, cols, ld, length int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: ld%s=%d < max(1, %d)", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; length < need {
		panic(fmt.Sprintf("gemm: len(%s)=%d < %d for a %d×%d matrix with ld%s=%d", name, length, need, rows, cols, name, ld))
	}
}

// nothingToMultiply handles the products without a multiply — an empty C
// (nothing to do) and k = 0 or alpha = 0 (C = beta·C, A and B not read) —
// and reports whether the product was one of them.
func nothingToMultiply(m, n, k int, alpha, beta float32, c []float32, ldc int) bool {
	if m == 0 || n == 0 {
		return true
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return true
	}
	return false
}

// scaleC sets C = beta·C over the m×n matrix; beta == 0 clears C without
// reading it (so NaNs there do not survive).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(ci)
		case 1:
		default:
			for j := range ci {
				ci[j] *= beta
			}
		}
	}
}
