//go:build amd64 && !purego

#include "textflag.h"

// func adamwAVX2(p, grad, mom, vel *float32, n int, c *coeffs)
// coeffs: decay 0, negStep 4, bc2Sqrt 8, b1 12, c1 16, b2 20, c2 24, eps 28,
// gscale 32, clear 36 (int32: nonzero zeroes the gradient after use).
TEXT ·adamwAVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ mom+16(FP), R8
	MOVQ vel+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	VBROADCASTSS 0(AX), Y12  // decay
	VBROADCASTSS 4(AX), Y13  // negStep
	VBROADCASTSS 8(AX), Y14  // bc2Sqrt
	VBROADCASTSS 12(AX), Y8  // b1
	VBROADCASTSS 16(AX), Y9  // c1
	VBROADCASTSS 20(AX), Y10 // b2
	VBROADCASTSS 24(AX), Y11 // c2
	VBROADCASTSS 28(AX), Y15 // eps
	VBROADCASTSS 32(AX), Y7  // gscale
	MOVL 36(AX), R10         // clear
	VXORPS Y6, Y6, Y6        // zeros
	XORQ BX, BX

loop:
	CMPQ BX, CX
	JGE  done
	VMULPS  (SI)(BX*4), Y7, Y0   // g = gscale·grad
	TESTL   R10, R10
	JZ      keep
	VMOVUPS Y6, (SI)(BX*4)       // grad = 0
keep:
	VMULPS  (R8)(BX*4), Y8, Y1   // b1·m
	VMULPS  Y0, Y9, Y2           // c1·g
	VADDPS  Y2, Y1, Y1           // m' = b1·m + c1·g
	VMOVUPS Y1, (R8)(BX*4)
	VMULPS  (R9)(BX*4), Y10, Y3  // b2·v
	VMULPS  Y0, Y11, Y4          // c2·g
	VMULPS  Y0, Y4, Y4           // (c2·g)·g
	VADDPS  Y4, Y3, Y3           // v' = b2·v + (c2·g)·g
	VMOVUPS Y3, (R9)(BX*4)
	VSQRTPS Y3, Y3               // √v'
	VDIVPS  Y14, Y3, Y3          // √v' / √bc2
	VADDPS  Y15, Y3, Y3          // denom = √v'/√bc2 + eps
	VMULPS  Y1, Y13, Y1          // negStep·m'
	VDIVPS  Y3, Y1, Y1           // (negStep·m') / denom
	VMULPS  (DI)(BX*4), Y12, Y5  // p·decay
	VADDPS  Y1, Y5, Y5           // p·decay + (negStep·m')/denom
	VMOVUPS Y5, (DI)(BX*4)
	ADDQ    $8, BX
	JMP     loop

done:
	VZEROUPPER
	RET
