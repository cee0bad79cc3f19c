package gemm

// goKernel is the pure-Go micro-kernel: a 4×2 tile of scalar float32
// accumulators, k unrolled by two. It runs where no assembly kernel applies
// (no AVX2+FMA, another architecture, or the purego build tag). On the
// development machine (Zen 4) it measured ~8.5 GFLOP/s from L1, against ~4
// for a 4×4 tile, whose 16 accumulators do not fit the 15 float registers
// the Go compiler uses and spill on every step.
var goKernel = kernel{
	name: "go-4x2",
	mr:   4, nr: 2,
	kc: 256, mc: 1024, nc: 512,
	tile: tileGo4x2,
}

func tileGo4x2(rows, k int, a, b, c []float32, ldc int, alpha, beta float32) {
	a = a[:4*k]
	b = b[:2*k]
	_ = c[(rows-1)*ldc+1]
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	for len(a) >= 8 && len(b) >= 4 {
		b0, b1 := b[0], b[1]
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
		b0, b1 = b[2], b[3]
		a0, a1, a2, a3 = a[4], a[5], a[6], a[7]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
		a = a[8:]
		b = b[4:]
	}
	if len(a) >= 4 && len(b) >= 2 {
		b0, b1 := b[0], b[1]
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
	}
	storeRow2(c[0:2:2], alpha, beta, c00, c01)
	if rows > 1 {
		storeRow2(c[ldc:ldc+2:ldc+2], alpha, beta, c10, c11)
	}
	if rows > 2 {
		storeRow2(c[2*ldc:2*ldc+2:2*ldc+2], alpha, beta, c20, c21)
	}
	if rows > 3 {
		storeRow2(c[3*ldc:3*ldc+2:3*ldc+2], alpha, beta, c30, c31)
	}
}

func storeRow2(c []float32, alpha, beta, v0, v1 float32) {
	c = c[:2]
	if beta == 0 {
		c[0], c[1] = alpha*v0, alpha*v1
		return
	}
	c[0] = beta*c[0] + alpha*v0
	c[1] = beta*c[1] + alpha*v1
}
