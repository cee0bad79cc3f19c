//go:build amd64 && !purego

// Hand-written (not generated): the AMX-BF16 kernel and its AVX-512 BF16
// helpers. Go's assembler knows neither AMX nor AVX512-BF16, so those
// instructions are spelled as bytes; each is followed by its Intel-syntax
// form. The encodings were taken from GNU as (objdump -d). The AMX ones only
// use AX, BX, CX, DX, SI, DI, which need no VEX register-extension bits; the
// VCVTNE2PS2BF16s of CvtT16 and PairsT16 name Z8–Z18, whose EVEX
// extension bits are in those bytes.

#include "textflag.h"

// The word permutation that interleaves two 16-word halves:
// result word 2j = half 0 word j, word 2j+1 = half 1 word j.
DATA pairIdx<>+0(SB)/8, $0x0011000100100000
DATA pairIdx<>+8(SB)/8, $0x0013000300120002
DATA pairIdx<>+16(SB)/8, $0x0015000500140004
DATA pairIdx<>+24(SB)/8, $0x0017000700160006
DATA pairIdx<>+32(SB)/8, $0x0019000900180008
DATA pairIdx<>+40(SB)/8, $0x001b000b001a000a
DATA pairIdx<>+48(SB)/8, $0x001d000d001c000c
DATA pairIdx<>+56(SB)/8, $0x001f000f001e000e
GLOBL pairIdx<>(SB), RODATA|NOPTR, $64

// func AMXStrip(cfg *[64]byte, a *uint16, lda int, btab *unsafe.Pointer, boff, ldb int, acc *float32, ldacc int, init *float32, ldinit, nt, kt int)
TEXT ·AMXStrip(SB), NOSPLIT, $0-96
	MOVQ cfg+0(FP), DI
	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x07 // ldtilecfg [rdi]
	MOVQ boff+32(FP), R10 // byte offset of the first column block in every B block
	MOVQ acc+48(FP), R13
	MOVQ init+64(FP), R11 // nil: the chains start from zero
	MOVQ nt+80(FP), R9

jloop:
	TESTQ R11, R11
	JNZ  loadacc
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc0 // tilezero tmm0
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc8 // tilezero tmm1
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd0 // tilezero tmm2
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd8 // tilezero tmm3
	JMP  start

loadacc:
	MOVQ ldinit+72(FP), CX // 0: every row of a tile is the same 16 floats
	MOVQ R11, DI
	MOVQ CX, DX
	SHLQ $4, DX
	ADDQ DI, DX
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x04; BYTE $0x0f // tileloadd tmm0, [rdi+rcx*1]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x4c; BYTE $0x0f; BYTE $0x40 // tileloadd tmm1, [rdi+rcx*1+64]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x14; BYTE $0x0a // tileloadd tmm2, [rdx+rcx*1]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x5c; BYTE $0x0a; BYTE $0x40 // tileloadd tmm3, [rdx+rcx*1+64]
	ADDQ $128, R11

start:
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), CX
	MOVQ CX, DX
	SHLQ $4, DX
	ADDQ SI, DX // rows 16..31 of the strip
	MOVQ btab+24(FP), R14
	MOVQ ldb+40(FP), AX
	MOVQ kt+88(FP), R8

kloop:
	MOVQ (R14), BX // this k step's B block, at the strip's column block
	ADDQ R10, BX
	ADDQ $8, R14
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x24; BYTE $0x0e // tileloadd tmm4, [rsi+rcx*1]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x2c; BYTE $0x0a // tileloadd tmm5, [rdx+rcx*1]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x34; BYTE $0x03 // tileloadd tmm6, [rbx+rax*1]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x7c; BYTE $0x03; BYTE $0x40 // tileloadd tmm7, [rbx+rax*1+64]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x4a; BYTE $0x5c; BYTE $0xc4 // tdpbf16ps tmm0, tmm4, tmm6
	BYTE $0xc4; BYTE $0xe2; BYTE $0x42; BYTE $0x5c; BYTE $0xcc // tdpbf16ps tmm1, tmm4, tmm7
	BYTE $0xc4; BYTE $0xe2; BYTE $0x4a; BYTE $0x5c; BYTE $0xd5 // tdpbf16ps tmm2, tmm5, tmm6
	BYTE $0xc4; BYTE $0xe2; BYTE $0x42; BYTE $0x5c; BYTE $0xdd // tdpbf16ps tmm3, tmm5, tmm7
	ADDQ $64, SI
	ADDQ $64, DX
	DECQ R8
	JNZ  kloop

	MOVQ ldacc+56(FP), CX
	MOVQ R13, DI
	MOVQ CX, DX
	SHLQ $4, DX
	ADDQ DI, DX
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x04; BYTE $0x0f // tilestored [rdi+rcx*1], tmm0
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x4c; BYTE $0x0f; BYTE $0x40 // tilestored [rdi+rcx*1+64], tmm1
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x14; BYTE $0x0a // tilestored [rdx+rcx*1], tmm2
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x5c; BYTE $0x0a; BYTE $0x40 // tilestored [rdx+rcx*1+64], tmm3
	ADDQ $128, R10
	ADDQ $128, R13
	DECQ R9
	JNZ  jloop

	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0 // tilerelease
	RET

// func CvtBF16(dst *uint16, src *float32, n int)
TEXT ·CvtBF16(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	CMPQ CX, $16
	JLT  tail

loop16:
	VMOVUPS (SI), Z0
	BYTE $0x62; BYTE $0xf2; BYTE $0x7e; BYTE $0x48; BYTE $0x72; BYTE $0xc8 // vcvtneps2bf16 ymm1, zmm0
	VMOVDQU Y1, (DI)
	ADDQ $64, SI
	ADDQ $32, DI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE  loop16

tail:
	TESTQ CX, CX
	JZ    done
	MOVQ  $1, AX
	SHLQ  CX, AX
	DECQ  AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	BYTE $0x62; BYTE $0xf2; BYTE $0x7e; BYTE $0x48; BYTE $0x72; BYTE $0xc8 // vcvtneps2bf16 ymm1, zmm0
	VMOVDQU16 Y1, K1, (DI)

done:
	VZEROUPPER
	RET

// func PairsBF16(dst *uint32, r0, r1 *float32, n int)
TEXT ·PairsBF16(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), DX
	MOVQ n+24(FP), CX
	VMOVDQU64 pairIdx<>(SB), Z4
	VPXORD Z1, Z1, Z1
	CMPQ CX, $16
	JLT  ptail

ploop:
	VMOVUPS (SI), Z0
	TESTQ DX, DX
	JZ    pone
	VMOVUPS (DX), Z1
	ADDQ $64, DX

pone:
	BYTE $0x62; BYTE $0xf2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xd0 // vcvtne2ps2bf16 zmm2, zmm1, zmm0
	VPERMW Z2, Z4, Z3
	VMOVDQU32 Z3, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE  ploop

ptail:
	TESTQ CX, CX
	JZ    pdone
	MOVQ  $1, AX
	SHLQ  CX, AX
	DECQ  AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	TESTQ DX, DX
	JZ    ptone
	VMOVUPS.Z (DX), K1, Z1

ptone:
	BYTE $0x62; BYTE $0xf2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xd0 // vcvtne2ps2bf16 zmm2, zmm1, zmm0
	VPERMW Z2, Z4, Z3
	VMOVDQU32 Z3, K1, (DI)

pdone:
	VZEROUPPER
	RET

// func ScaleAcc(c *float32, ldc int, acc *float32, ldacc int, rows, n int, alpha, beta float32, readC int)
TEXT ·ScaleAcc(SB), NOSPLIT, $0-64
	MOVQ c+0(FP), DI
	MOVQ ldc+8(FP), R8
	SHLQ $2, R8
	MOVQ acc+16(FP), SI
	MOVQ ldacc+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ n+40(FP), R11
	VBROADCASTSS alpha+48(FP), Z30
	VBROADCASTSS beta+52(FP), Z31
	MOVQ readC+56(FP), R12
	// mask of the last, partial vector (all ones when n is a multiple of 16)
	MOVQ R11, CX
	ANDQ $15, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	TESTQ CX, CX
	JNZ  maskset
	MOVQ $0xffff, AX

maskset:
	KMOVW AX, K1
	// full vectors per row: (n-1)/16; the last vector is masked
	MOVQ R11, R13
	DECQ R13
	SHRQ $4, R13

row:
	MOVQ DI, DX
	MOVQ SI, BX
	MOVQ R13, CX
	TESTQ CX, CX
	JZ   last

vec:
	VMULPS (BX), Z30, Z0
	TESTQ R12, R12
	JZ   vstore
	VFMADD231PS (DX), Z31, Z0

vstore:
	VMOVUPS Z0, (DX)
	ADDQ $64, DX
	ADDQ $64, BX
	DECQ CX
	JNZ  vec

last:
	VMOVUPS.Z (BX), K1, Z0
	VMULPS Z0, Z30, Z0
	TESTQ R12, R12
	JZ   lstore
	VMOVUPS.Z (DX), K1, Z1
	VFMADD231PS Z1, Z31, Z0

lstore:
	VMOVUPS Z0, K1, (DX)
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R10
	JNZ  row
	VZEROUPPER
	RET

// transpose16 transposes the 16×16 dwords in Z0–Z15 (row r in Zr) in place,
// through Z16–Z31: 32-bit then 64-bit interleaves within 128-bit lanes, then
// two rounds of 128-bit lane shuffles. It then stores row c (column c of the
// input) at DI + c·R10 bytes.
#define TRANSPOSE16_STORE \
	VUNPCKLPS Z1, Z0, Z16; \
	VUNPCKHPS Z1, Z0, Z17; \
	VUNPCKLPS Z3, Z2, Z18; \
	VUNPCKHPS Z3, Z2, Z19; \
	VUNPCKLPS Z5, Z4, Z20; \
	VUNPCKHPS Z5, Z4, Z21; \
	VUNPCKLPS Z7, Z6, Z22; \
	VUNPCKHPS Z7, Z6, Z23; \
	VUNPCKLPS Z9, Z8, Z24; \
	VUNPCKHPS Z9, Z8, Z25; \
	VUNPCKLPS Z11, Z10, Z26; \
	VUNPCKHPS Z11, Z10, Z27; \
	VUNPCKLPS Z13, Z12, Z28; \
	VUNPCKHPS Z13, Z12, Z29; \
	VUNPCKLPS Z15, Z14, Z30; \
	VUNPCKHPS Z15, Z14, Z31; \
	VUNPCKLPD Z18, Z16, Z0; \
	VUNPCKHPD Z18, Z16, Z1; \
	VUNPCKLPD Z19, Z17, Z2; \
	VUNPCKHPD Z19, Z17, Z3; \
	VUNPCKLPD Z22, Z20, Z4; \
	VUNPCKHPD Z22, Z20, Z5; \
	VUNPCKLPD Z23, Z21, Z6; \
	VUNPCKHPD Z23, Z21, Z7; \
	VUNPCKLPD Z26, Z24, Z8; \
	VUNPCKHPD Z26, Z24, Z9; \
	VUNPCKLPD Z27, Z25, Z10; \
	VUNPCKHPD Z27, Z25, Z11; \
	VUNPCKLPD Z30, Z28, Z12; \
	VUNPCKHPD Z30, Z28, Z13; \
	VUNPCKLPD Z31, Z29, Z14; \
	VUNPCKHPD Z31, Z29, Z15; \
	VSHUFF32X4 $0x44, Z4, Z0, Z16; \
	VSHUFF32X4 $0xEE, Z4, Z0, Z17; \
	VSHUFF32X4 $0x44, Z12, Z8, Z18; \
	VSHUFF32X4 $0xEE, Z12, Z8, Z19; \
	VSHUFF32X4 $0x44, Z5, Z1, Z20; \
	VSHUFF32X4 $0xEE, Z5, Z1, Z21; \
	VSHUFF32X4 $0x44, Z13, Z9, Z22; \
	VSHUFF32X4 $0xEE, Z13, Z9, Z23; \
	VSHUFF32X4 $0x44, Z6, Z2, Z24; \
	VSHUFF32X4 $0xEE, Z6, Z2, Z25; \
	VSHUFF32X4 $0x44, Z14, Z10, Z26; \
	VSHUFF32X4 $0xEE, Z14, Z10, Z27; \
	VSHUFF32X4 $0x44, Z7, Z3, Z28; \
	VSHUFF32X4 $0xEE, Z7, Z3, Z29; \
	VSHUFF32X4 $0x44, Z15, Z11, Z30; \
	VSHUFF32X4 $0xEE, Z15, Z11, Z31; \
	VSHUFF32X4 $0x88, Z18, Z16, Z0; \
	VSHUFF32X4 $0x88, Z22, Z20, Z1; \
	VSHUFF32X4 $0x88, Z26, Z24, Z2; \
	VSHUFF32X4 $0x88, Z30, Z28, Z3; \
	VSHUFF32X4 $0xDD, Z18, Z16, Z4; \
	VSHUFF32X4 $0xDD, Z22, Z20, Z5; \
	VSHUFF32X4 $0xDD, Z26, Z24, Z6; \
	VSHUFF32X4 $0xDD, Z30, Z28, Z7; \
	VSHUFF32X4 $0x88, Z19, Z17, Z8; \
	VSHUFF32X4 $0x88, Z23, Z21, Z9; \
	VSHUFF32X4 $0x88, Z27, Z25, Z10; \
	VSHUFF32X4 $0x88, Z31, Z29, Z11; \
	VSHUFF32X4 $0xDD, Z19, Z17, Z12; \
	VSHUFF32X4 $0xDD, Z23, Z21, Z13; \
	VSHUFF32X4 $0xDD, Z27, Z25, Z14; \
	VSHUFF32X4 $0xDD, Z31, Z29, Z15; \
	VMOVDQU32 Z0, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z1, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z2, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z3, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z4, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z5, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z6, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z7, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z8, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z9, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z10, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z11, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z12, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z13, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z14, (DI); \
	ADDQ R10, DI; \
	VMOVDQU32 Z15, (DI)

// CVT_ROW converts row r of CvtT16's block into Zr (zero when r ≥ rows,
// BX), the valid floats masked by R8 (first 16) and R9 (last 16), and
// steps SI to the next row. e1 and e5 are the bytes of
// vcvtne2ps2bf16 zmm_r, zmm17, zmm16 that name zmm_r.
#define CVT_ROW(r, e1, e5) \
	XORL AX, AX; \
	XORL DX, DX; \
	CMPQ BX, $r; \
	CMOVQGT R8, AX; \
	CMOVQGT R9, DX; \
	KMOVW AX, K1; \
	KMOVW DX, K2; \
	VMOVUPS.Z (SI), K1, Z16; \
	VMOVUPS.Z 64(SI), K2, Z17; \
	BYTE $0x62; BYTE e1; BYTE $0x77; BYTE $0x40; BYTE $0x72; BYTE e5; \
	ADDQ R11, SI

// PAIR_ROW interleaves rows p0 and p1 of PairsT16's block (each zero when
// at or past rows, BX; the valid columns masked by R8) as BF16 pairs into
// Zq and steps SI two rows on. Z19 holds pairIdx.
#define PAIR_ROW(p0, p1, Zq) \
	XORL AX, AX; \
	XORL DX, DX; \
	CMPQ BX, $p0; \
	CMOVQGT R8, AX; \
	CMPQ BX, $p1; \
	CMOVQGT R8, DX; \
	KMOVW AX, K1; \
	KMOVW DX, K2; \
	VMOVUPS.Z (SI), K1, Z16; \
	VMOVUPS.Z (SI)(R11*1), K2, Z17; \
	BYTE $0x62; BYTE $0xa2; BYTE $0x77; BYTE $0x40; BYTE $0x72; BYTE $0xd0; \
	VPERMW Z18, Z19, Zq; \
	LEAQ (SI)(R11*2), SI

// func CvtT16(dst *uint32, ldd int, src *float32, lds int, rows, n int)
TEXT ·CvtT16(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R10
	SHLQ $2, R10
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R11
	SHLQ $2, R11
	MOVQ rows+32(FP), BX
	// R8, R9: masks of the valid floats among a row's first and last 16
	MOVQ n+40(FP), CX
	MOVQ $0xffff, R8
	MOVQ $0xffff, R9
	CMPQ CX, $32
	JGE  cmasks
	CMPQ CX, $16
	JGE  chigh
	MOVQ $1, R8
	SHLQ CX, R8
	DECQ R8
	XORQ R9, R9
	JMP  cmasks

chigh:
	SUBQ $16, CX
	MOVQ $1, R9
	SHLQ CX, R9
	DECQ R9

cmasks:
	CVT_ROW(0, $0xb2, $0xc0)
	CVT_ROW(1, $0xb2, $0xc8)
	CVT_ROW(2, $0xb2, $0xd0)
	CVT_ROW(3, $0xb2, $0xd8)
	CVT_ROW(4, $0xb2, $0xe0)
	CVT_ROW(5, $0xb2, $0xe8)
	CVT_ROW(6, $0xb2, $0xf0)
	CVT_ROW(7, $0xb2, $0xf8)
	CVT_ROW(8, $0x32, $0xc0)
	CVT_ROW(9, $0x32, $0xc8)
	CVT_ROW(10, $0x32, $0xd0)
	CVT_ROW(11, $0x32, $0xd8)
	CVT_ROW(12, $0x32, $0xe0)
	CVT_ROW(13, $0x32, $0xe8)
	CVT_ROW(14, $0x32, $0xf0)
	CVT_ROW(15, $0x32, $0xf8)
	TRANSPOSE16_STORE
	VZEROUPPER
	RET

// CVT_ROWP is CVT_ROW for CvtT16Rows: row r starts at the pointer in
// slot r of the table at R12, plus R11 bytes.
#define CVT_ROWP(r, e1, e5) \
	XORL AX, AX; \
	XORL DX, DX; \
	CMPQ BX, $r; \
	CMOVQGT R8, AX; \
	CMOVQGT R9, DX; \
	KMOVW AX, K1; \
	KMOVW DX, K2; \
	MOVQ (8*r)(R12), SI; \
	ADDQ R11, SI; \
	VMOVUPS.Z (SI), K1, Z16; \
	VMOVUPS.Z 64(SI), K2, Z17; \
	BYTE $0x62; BYTE e1; BYTE $0x77; BYTE $0x40; BYTE $0x72; BYTE e5

// func CvtT16Rows(dst *uint32, ldd int, rows *[16]*float32, off int, nrows, n int)
TEXT ·CvtT16Rows(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R10
	SHLQ $2, R10
	MOVQ rows+16(FP), R12
	MOVQ off+24(FP), R11
	SHLQ $2, R11
	MOVQ nrows+32(FP), BX
	// R8, R9: masks of the valid floats among a row's first and last 16
	MOVQ n+40(FP), CX
	MOVQ $0xffff, R8
	MOVQ $0xffff, R9
	CMPQ CX, $32
	JGE  rmasks
	CMPQ CX, $16
	JGE  rhigh
	MOVQ $1, R8
	SHLQ CX, R8
	DECQ R8
	XORQ R9, R9
	JMP  rmasks

rhigh:
	SUBQ $16, CX
	MOVQ $1, R9
	SHLQ CX, R9
	DECQ R9

rmasks:
	CVT_ROWP(0, $0xb2, $0xc0)
	CVT_ROWP(1, $0xb2, $0xc8)
	CVT_ROWP(2, $0xb2, $0xd0)
	CVT_ROWP(3, $0xb2, $0xd8)
	CVT_ROWP(4, $0xb2, $0xe0)
	CVT_ROWP(5, $0xb2, $0xe8)
	CVT_ROWP(6, $0xb2, $0xf0)
	CVT_ROWP(7, $0xb2, $0xf8)
	CVT_ROWP(8, $0x32, $0xc0)
	CVT_ROWP(9, $0x32, $0xc8)
	CVT_ROWP(10, $0x32, $0xd0)
	CVT_ROWP(11, $0x32, $0xd8)
	CVT_ROWP(12, $0x32, $0xe0)
	CVT_ROWP(13, $0x32, $0xe8)
	CVT_ROWP(14, $0x32, $0xf0)
	CVT_ROWP(15, $0x32, $0xf8)
	TRANSPOSE16_STORE
	VZEROUPPER
	RET

// func PairsT16(dst *uint32, ldd int, src *float32, lds int, rows, n int)
TEXT ·PairsT16(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R10
	SHLQ $2, R10
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R11
	SHLQ $2, R11
	MOVQ rows+32(FP), BX
	VMOVDQU64 pairIdx<>(SB), Z19
	// R8: mask of the valid columns
	MOVQ n+40(FP), CX
	MOVQ $0xffff, R8
	CMPQ CX, $16
	JGE  pmask
	MOVQ $1, R8
	SHLQ CX, R8
	DECQ R8

pmask:
	PAIR_ROW(0, 1, Z0)
	PAIR_ROW(2, 3, Z1)
	PAIR_ROW(4, 5, Z2)
	PAIR_ROW(6, 7, Z3)
	PAIR_ROW(8, 9, Z4)
	PAIR_ROW(10, 11, Z5)
	PAIR_ROW(12, 13, Z6)
	PAIR_ROW(14, 15, Z7)
	PAIR_ROW(16, 17, Z8)
	PAIR_ROW(18, 19, Z9)
	PAIR_ROW(20, 21, Z10)
	PAIR_ROW(22, 23, Z11)
	PAIR_ROW(24, 25, Z12)
	PAIR_ROW(26, 27, Z13)
	PAIR_ROW(28, 29, Z14)
	PAIR_ROW(30, 31, Z15)
	TRANSPOSE16_STORE
	VZEROUPPER
	RET
