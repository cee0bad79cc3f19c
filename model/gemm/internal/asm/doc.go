// Package asm holds the amd64 assembly of package gemm: SGEMM micro-kernels
// for AVX2+FMA (6×16 tile, ymm) and AVX-512F (12×32 tile, zmm, embedded
// broadcasts), and AVX packing helpers. Everything in kernel_amd64.s and
// decl_amd64.go is written by gen_amd64.go (`go generate`). The AMX-BF16
// kernel and its conversions (amx_amd64.s, amx_amd64.go) are hand-written.
//
// It is a separate package because Go does not allow Go assembly in a
// package that uses cgo, and gemm does with the openblas build tag. Callers
// must check the CPU features (golang.org/x/sys/cpu) before using a kernel;
// package gemm does. With the purego tag, or off amd64, the package is empty.
package asm

// Tile is one micro-kernel. It computes an R×NR tile (R is fixed per
// kernel, up to the panel height MR):
//
//	C[r][j] = alpha·Σ_p a[p·MR+r]·b[p·NR+j] + beta·C[r][j]   (r < R, j < NR)
//
// where a is a packed A micro-panel (k ≥ 1 steps of MR floats) and b a packed
// B micro-panel (k steps of NR floats), C rows ldc floats apart. The sum
// over p runs in index order in one accumulator per element, so results
// depend only on the inputs. beta == ±0 means C is only written. There are
// no bounds checks: the caller guarantees the sizes.
type Tile func(k int, a, b, c *float32, ldc int, alpha, beta float32)

// MaskedTile is a Tile for column edges (AVX-512 only): it reads the same
// 32-wide B panel but computes one or two 16-column vectors, and in the
// last one reads and writes only the columns whose bit is set in mask
// (bit j for column j of that vector), so C needs no room past them.
type MaskedTile func(k int, a, b, c *float32, ldc int, alpha, beta float32, mask int)

// DirectTile is an AVX-512 kernel that reads A and B where they are stored
// rather than from packed panels (small products, where packing costs as
// much as the multiply). It computes the first r rows (fixed per kernel, up
// to 12) of a tile of v 16-column vectors (fixed per kernel, 1 or 2):
//
//	C[r][j] = alpha·Σ_p A(r, p)·b[p·bs+j] + beta·C[r][j]
//
// with A(r, p) = a[p·as+r] (DirectKM: k-major, as for a transposed A) or
// a[r·as+p] (DirectRM: row-major). In the last vector only the columns
// whose bit is set in mask are read (of B and C) and written. The sum over
// p and the final scaling are done exactly as in a Tile, element by
// element, so both compute the same bits. No bounds checks.
type DirectTile func(k int, a *float32, as int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, mask int)

// OffsetBTile is a direct AVX-512 kernel with row-major A whose B rows are
// found through a table of offsets:
//
//	C[r][j] = alpha·Σ_p a[r·lda+p]·b[offs[p]+j] + beta·C[r][j]
//
// for the first r rows (fixed per kernel) and v 16-column vectors (the last
// masked as in DirectTile), with the arithmetic of a Tile. A convolution
// passes its zero-padded input and the offset of each (channel, tap) row of
// its im2col matrix, which is then never written. No bounds checks.
type OffsetBTile func(k int, a *float32, lda int, b *float32, offs *int, c *float32, ldc int, alpha, beta float32, mask int)

// Taps3x3 kernels are DirectTiles (as is the B stride bs, the A stride is
// the row stride rs of a padded plane) whose 9 rows are the 3×3 taps of one
// plane: A(3i+j, p) = a[i·rs+j+p].

//go:generate go run gen_amd64.go
