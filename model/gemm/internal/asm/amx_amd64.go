//go:build amd64 && !purego

package asm

import "unsafe"

// The AMX-BF16 kernel and its helpers (amx_amd64.s, hand-written). Callers
// must check for AMX-BF16, AVX512-BF16 and AVX512-BW and must have asked
// the kernel for the tile state (arch_prctl ARCH_REQ_XCOMP_PERM) before the
// first call; package gemm does both. No bounds checks.

// AMXStrip multiplies a 32-row strip of a BF16 A by nt 32-column blocks of
// a pair-interleaved BF16 B, kt steps of 32 along k, into FP32:
//
//	acc[r][j] = Σ_p A[r][p]·B[p][j]   (r < 32, j < 32·nt, p < 32·kt)
//
// A is row-major (row r at a + r·lda bytes, p contiguous). B is stored in
// pairs of k, each k step's 16 pair rows ldb bytes apart starting at
// btab[s] + boff bytes for step s (contiguous B: btab[s] = b + 16·s·ldb;
// a B whose steps lie anywhere, SgemmConv3x3's, lists them): the dword at
// btab[p/32] + boff + ((p%32)/2)·ldb + 4j bytes holds B[p][j] in its low
// and B[p+1][j] in its high half (p even). acc rows are ldacc bytes apart.
// Each 16×16 tile of acc is one TDPBF16PS chain over p in steps of 32, so
// the result depends only on the inputs. The chains start from zero when
// init is nil, else from init's values: init[r][j] at init + r·ldinit +
// 4j bytes (init = acc, ldinit = ldacc: acc += A·B; ldinit = 0: one row,
// such as a bias, under every row of acc). cfg is a tile
// configuration (palette 1, tiles 0–7 of 16 rows × 64 bytes), loaded on
// entry; the tiles are released on return.
//
//go:noescape
func AMXStrip(cfg *[64]byte, a *uint16, lda int, btab *unsafe.Pointer, boff, ldb int, acc *float32, ldacc int, init *float32, ldinit, nt, kt int)

// CvtBF16 rounds n floats to BF16 (round to nearest even, NaNs stay NaNs;
// VCVTNEPS2BF16): dst[i] = bf16(src[i]).
//
//go:noescape
func CvtBF16(dst *uint16, src *float32, n int)

// PairsBF16 writes n dwords of a pair-interleaved row:
// dst[j] = bf16(r0[j]) | bf16(r1[j])<<16, with r1 == nil meaning zeros.
//
//go:noescape
func PairsBF16(dst *uint32, r0, r1 *float32, n int)

// ScaleAcc sets c[r·ldc+j] = alpha·acc[r·ldacc+j] + beta·c[r·ldc+j] for
// r < rows (≥ 1), j < n (≥ 1); with readC == 0, c = alpha·acc and c is not
// read. Strides are in floats.
//
//go:noescape
func ScaleAcc(c *float32, ldc int, acc *float32, ldacc int, rows, n int, alpha, beta float32, readC int)

// CvtT16 converts a 16-row block of a row-major FP32 matrix to BF16 and
// transposes it as dwords: with s(r, p) = src[r·lds+p] for r < rows and
// p < n, and 0 otherwise (rows ≤ 16, n ≤ 32),
//
//	dst[q·ldd+r] = bf16(s(r, 2q)) | bf16(s(r, 2q+1))<<16   (q, r < 16)
//
// — the pair-interleaved layout of the block's transpose, which is how
// AMXStrip reads a B stored transposed. Strides are in elements; src rows
// at or past rows and floats at or past n are not read.
//
//go:noescape
func CvtT16(dst *uint32, ldd int, src *float32, lds int, rows, n int)

// CvtT16Rows is CvtT16 for a block whose rows lie anywhere: row r starts
// at rows[r] + off floats (r < nrows; the slots at or past nrows are read,
// the rows they point to are not), so
//
//	dst[q·ldd+r] = bf16(s(r, 2q)) | bf16(s(r, 2q+1))<<16   with s(r, p) = rows[r][off+p]
//
// for r < nrows and p < n, and 0 otherwise (nrows ≤ 16, n ≤ 32).
//
//go:noescape
func CvtT16Rows(dst *uint32, ldd int, rows *[16]*float32, off int, nrows, n int)

// PairsT16 interleaves pairs of rows of a row-major FP32 matrix as BF16
// and transposes the result as dwords: with s(p, i) = src[p·lds+i] for
// p < rows and i < n, and 0 otherwise (rows ≤ 32, n ≤ 16),
//
//	dst[i·ldd+q] = bf16(s(2q, i)) | bf16(s(2q+1, i))<<16   (i, q < 16)
//
// — rows of BF16 op(A) for an A stored transposed (k×m). Strides are in
// elements; src rows at or past rows and floats at or past n are not read.
//
//go:noescape
func PairsT16(dst *uint32, ldd int, src *float32, lds int, rows, n int)
