package gemm

// goKernel is the pure-Go micro-kernel: a 4×4 register tile of scalar
// float32 accumulators. It runs where no assembly kernel applies (no
// AVX2+FMA, another architecture, or the purego build tag).
var goKernel = kernel{
	name: "go-4x4",
	mr:   4, nr: 4,
	kc: 256, mc: 1024, nc: 512,
	tile: tileGo4x4,
}

func tileGo4x4(rows, k int, a, b, c []float32, ldc int, alpha, beta float32) {
	a = a[:4*k]
	b = b[:4*k]
	_ = c[(rows-1)*ldc+3]
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for len(a) >= 4 && len(b) >= 4 {
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		a0 := a[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := a[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := a[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := a[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		a = a[4:]
		b = b[4:]
	}
	storeRow4(c[0:4:4], alpha, beta, c00, c01, c02, c03)
	if rows > 1 {
		storeRow4(c[ldc:ldc+4:ldc+4], alpha, beta, c10, c11, c12, c13)
	}
	if rows > 2 {
		storeRow4(c[2*ldc:2*ldc+4:2*ldc+4], alpha, beta, c20, c21, c22, c23)
	}
	if rows > 3 {
		storeRow4(c[3*ldc:3*ldc+4:3*ldc+4], alpha, beta, c30, c31, c32, c33)
	}
}

func storeRow4(c []float32, alpha, beta, v0, v1, v2, v3 float32) {
	c = c[:4]
	if beta == 0 {
		c[0], c[1], c[2], c[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		return
	}
	c[0] = beta*c[0] + alpha*v0
	c[1] = beta*c[1] + alpha*v1
	c[2] = beta*c[2] + alpha*v2
	c[3] = beta*c[3] + alpha*v3
}
