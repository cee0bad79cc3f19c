package fmath

import "math"

// Exp returns e^x with a relative error below 4e-7 for x in [−87, 88]; it
// returns 0 below −87.3 and +Inf above 88.7.
//
// Range reduction: x = k·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6
// Taylor polynomial (truncation error < r⁷/7! ≈ 1.5e-7 at |r| = ln2/2),
// and 2^k assembled in the exponent bits.
func Exp(x float32) float32 {
	if x < -87.3 {
		return 0
	}
	if x > 88.7 {
		return float32(math.Inf(1))
	}
	const log2e = 1.4426950408889634
	const ln2hi, ln2lo = 0.693145751953125, 1.4286068203094172e-06
	// round to nearest with the 1.5·2²³ trick (|x·log2e| < 2²² here)
	const magic = 12582912
	kf := (x*log2e + magic) - magic
	r := x - kf*ln2hi - kf*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	k := int32(kf)
	// 2^k by the exponent field; k ∈ [−126, 128] here, and k = 128 only
	// when p < 1 (x just below 88.72), so split the scaling in two steps.
	if k > 127 {
		return p * 2 * math.Float32frombits(uint32(k-1+127)<<23)
	}
	if k < -126 {
		return p * math.Float32frombits(uint32(k+126+127)<<23) * 0x1p-126
	}
	return p * math.Float32frombits(uint32(k+127)<<23)
}

// log1pSmall returns ln(1+e) for e in [0, 1] with a relative error below
// 2e-7: ln(1+e) = 2·atanh(u) = 2(u + u³/3 + u⁵/5 + …) with u = e/(2+e) ≤ 1/3;
// terms up to u¹³/13 leave a remainder below u¹⁵/15 ≈ 5e-9 relative.
func log1pSmall(e float32) float32 {
	u := e / (2 + e)
	u2 := u * u
	return 2 * u * (1 + u2*(1.0/3+u2*(1.0/5+u2*(1.0/7+u2*(1.0/9+u2*(1.0/11+u2*(1.0/13)))))))
}

// Sigmoid returns 1/(1+e^−x), computed from e^−|x| so it never overflows
// (bit-identical to SigmoidSoftplus's first result).
func Sigmoid(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	e := Exp(-a)
	inv := 1 / (1 + e)
	if x >= 0 {
		return inv
	}
	return e * inv
}

// Softplus returns ln(1+e^x) = max(x, 0) + ln(1+e^−|x|).
func Softplus(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	return max(x, 0) + log1pSmall(Exp(-a))
}

// SigmoidSoftplus returns σ(x) and softplus(x) with one exponential.
func SigmoidSoftplus(x float32) (sig, sp float32) {
	a := x
	if a < 0 {
		a = -a
	}
	e := Exp(-a)
	inv := 1 / (1 + e)
	if x >= 0 {
		sig = inv
	} else {
		sig = e * inv
	}
	return sig, max(x, 0) + log1pSmall(e)
}

// Softmax64 writes softmax(z) into dst (len(dst) = len(z)) in float64:
// e^(z_i − max z) over their sum, every step in float64. The matcher's
// class cost and the post-processing's class probabilities use it; the
// network's own (masked, float32) softmax is the engine's.
func Softmax64(dst []float64, z []float32) {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, float64(v))
	}
	s := 0.0
	for i, v := range z {
		dst[i] = math.Exp(float64(v) - m)
		s += dst[i]
	}
	for i := range dst {
		dst[i] /= s
	}
}
