//go:build amd64 && !purego

// Hand-written (not generated): the AMX-BF16 kernel and its AVX-512 BF16
// helpers. Go's assembler knows neither AMX nor AVX512-BF16, so those
// instructions are spelled as bytes; each is followed by its Intel-syntax
// form. The encodings were checked against GNU as (objdump -d) and only use
// AX, BX, CX, DX, SI, DI, which need no VEX/EVEX register-extension bits.

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

// func AMXStrip(cfg *[64]byte, a *uint16, lda int, b *uint32, ldb int, acc *float32, ldacc int, nt, kt, load int)
TEXT ·AMXStrip(SB), NOSPLIT, $0-80
	MOVQ cfg+0(FP), DI
	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x07 // ldtilecfg [rdi]
	MOVQ b+24(FP), R11
	MOVQ acc+40(FP), R13
	MOVQ nt+56(FP), R9
	MOVQ ldb+32(FP), R12
	SHLQ $4, R12 // 16 pair rows of B per k step of 32

jloop:
	MOVQ load+72(FP), AX
	TESTQ AX, AX
	JNZ  loadacc
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc0 // tilezero tmm0
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc8 // tilezero tmm1
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd0 // tilezero tmm2
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd8 // tilezero tmm3
	JMP  start

loadacc:
	MOVQ ldacc+48(FP), CX
	MOVQ R13, DI
	MOVQ CX, DX
	SHLQ $4, DX
	ADDQ DI, DX
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x04; BYTE $0x0f // tileloadd tmm0, [rdi+rcx*1]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x4c; BYTE $0x0f; BYTE $0x40 // tileloadd tmm1, [rdi+rcx*1+64]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x14; BYTE $0x0a // tileloadd tmm2, [rdx+rcx*1]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x5c; BYTE $0x0a; BYTE $0x40 // tileloadd tmm3, [rdx+rcx*1+64]

start:
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), CX
	MOVQ CX, DX
	SHLQ $4, DX
	ADDQ SI, DX // rows 16..31 of the strip
	MOVQ R11, BX
	MOVQ ldb+32(FP), AX
	MOVQ kt+64(FP), R8

kloop:
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
	ADDQ R12, BX
	DECQ R8
	JNZ  kloop

	MOVQ ldacc+48(FP), CX
	MOVQ R13, DI
	MOVQ CX, DX
	SHLQ $4, DX
	ADDQ DI, DX
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x04; BYTE $0x0f // tilestored [rdi+rcx*1], tmm0
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x4c; BYTE $0x0f; BYTE $0x40 // tilestored [rdi+rcx*1+64], tmm1
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x14; BYTE $0x0a // tilestored [rdx+rcx*1], tmm2
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x5c; BYTE $0x0a; BYTE $0x40 // tilestored [rdx+rcx*1+64], tmm3
	ADDQ $128, R11
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
