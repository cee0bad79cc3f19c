// Package gemm is the matrix-multiply kernel behind every GEMM of the engine.
//
// All matrices are row-major. Sgemm computes
//
//	C = alpha·op(A)·op(B) + beta·C
//
// with op(A) of shape m×k and op(B) of shape k×n; op(X) is X or Xᵀ as tA/tB
// say, and lda/ldb/ldc are the row strides of the stored matrices (so for a
// stored A with tA set, A is k×m and lda ≥ m). When beta is 0, C is not read
// (NaNs in C do not propagate), and when alpha is 0 (or k is 0) A and B are
// not read, as in BLAS. Inconsistent arguments (negative sizes, strides
// below the row width, short slices) panic with a "gemm:" message.
//
// Sgemm is single-threaded: the engine parallelises over images, and one
// level of parallelism is the rule (two would oversubscribe the cores).
// Results are deterministic: for a given implementation the value of every
// C element depends only on its inputs, never on scheduling.
//
// # Implementations
//
// Register adds implementations; the highest priority is the default, Use
// switches by name:
//
//   - "ref" (0): the reference triple loop, for tests.
//   - "gonum" (10): gonum's pure-Go Sgemm.
//   - "asm" (20, the default): the packed, blocked SGEMM of this package,
//     described below. KernelName tells which micro-kernel it runs.
//   - "openblas" (30, only with the openblas build tag and cgo): cblas_sgemm
//     of the system OpenBLAS (-lopenblas; Debian's libopenblas-dev), set to
//     one thread at init to keep the one-level rule.
//   - "amx-bf16" (−10, never the default; only where the CPU has AMX-BF16
//     and AVX512-BF16 and Linux grants the tile state): the BF16 precision,
//     described below. SetPrecision(BF16) selects it.
//
// # Precision
//
// Every implementation but one computes in FP32. "amx-bf16" rounds op(A)
// and op(B) to BF16 (round to nearest even, subnormals read as zero) and
// multiplies them on the AMX tile unit (TDPBF16PS) with FP32
// accumulation, then C = alpha·acc + beta·C in FP32: a numeric mode of its
// own (Precision, SetPrecision; model.TrainConfig.Precision), as
// deterministic as the FP32 ones but with different results. Products
// with n or k ≤ 16 and fewer than 8192 elements of B stay FP32 ("asm"):
// converting and padding them costs more than they take. The
// operands are converted into a free-list workspace — A into BF16 rows,
// B into pairs of k per column (the layout the tile unit reads); a
// transposed operand is converted 16×16 pairs at a time and transposed in
// registers on the way (CvtT16, PairsT16), so the values and the layout
// are those of the untransposed case and the results do not depend on
// operand layout (LayoutIndependent) — and multiplied one 32-row strip at
// a time in 2×2 tiles of 16×16 accumulators; 32×32 blocks inside C are
// accumulated in C itself when alpha is 1 and beta 0 or 1, and
// SgemmPreparedBias starts them from a bias row (a tile load with row
// stride 0) instead of from C filled with it. SgemmOffsetB,
// SgemmTaps3x3 and SgemmTapsT3x3 have BF16 versions that convert the rows
// where they are (CvtT16Rows: 16 rows anywhere, converted and transposed),
// and SgemmConv3x3's converts a padded input once, as BF16 pairs of
// neighbouring planes, and reads each k step of 32 (one tap, 32 planes)
// from there (AMXStrip reads B through a table of k-step pointers);
// SgemmConvGradT3x3, the weight gradient transposed and tap-major,
// converts the input once into BF16 planes and reads each 32-row strip
// of A (one tap, 32 planes) from there (AMXStrip's A through a table of
// strip pointers). Since converting is part of every product, a
// transposed operand costs what a stored one does (ConvertsOperands):
// callers may orient a product by its result. A right operand used by
// several products can be converted once (Prepare, SgemmPrepared: the
// decoder's mask features, engine.Graph.Reuse), and so can a left one
// (PrepareLeft, SgemmConv3x3Prepared: a convolution kernel, per step).
// The kernel (internal/asm, amx_amd64.s) is hand-written, its AMX and
// AVX512-BF16 instructions spelled as bytes: Go's assembler knows neither.
//
// # The packed SGEMM ("asm")
//
// It follows Goto/BLIS. k is split into near-equal blocks of at most kc,
// m into blocks of at most mc rows and n into blocks of at most nc columns
// (384, 1536 and 384 for the assembly kernels); block sizes depend only on
// m, n and k. For each m
// block and k block, op(A) is packed into micro-panels of MR rows stored k
// by k (MR consecutive floats per k step); for each n block, op(B) is packed
// into micro-panels of NR columns stored the same way (kc×nc floats, meant
// to stay in L2). The four transpose cases differ only in packing: a
// contiguous source is copied row run by row run, a transposed one goes
// through 4×8 AVX transposes. Panels are zero-padded to whole tiles.
//
// The micro-kernel keeps an MR×NR tile of C in registers, runs the k block
// with one fused multiply-add per vector, then writes C = alpha·acc + beta·C
// (the first k block uses the caller's beta, later ones 1). On amd64 the
// kernels are Go assembly (package internal/asm, generated by
// internal/asm/gen_amd64.go):
//
//   - avx512-12x32: 12×32 tile in 24 zmm accumulators, A values folded into
//     the FMAs as embedded broadcasts; used when the CPU has AVX-512F.
//   - avx2-6x16: 6×16 tile in 12 ymm accumulators; used with AVX2 and FMA.
//
// Each comes in one variant per row count, so the last row tile of a block
// computes only its rows; tiles narrower than NR are computed into a
// scratch tile and merged. The choice is made once at init with
// golang.org/x/sys/cpu (which also checks that the OS saves the vector
// state). Without AVX2+FMA, on other architectures, or with the purego build
// tag, the same driver runs go-4x2, a pure-Go kernel with a 4×2 tile of
// scalar accumulators (about 8 GFLOP/s on Zen 4).
//
// # The direct path
//
// On AVX-512 machines small products skip the packing: direct kernels
// (internal/asm, DirectTile) broadcast A values from where A is stored
// (row by row, or k step by k step when transposed) and read B rows in
// place, with masked loads and stores at the column edge; only a transposed
// B is still packed. The decoder's products (20 query rows against 128 or
// 256 channels, per-head attention with 16 columns) and the convolutions of
// 3×3…12×12 maps spent as long packing as multiplying. useDirect picks the
// path from the shapes. Each C element gets exactly the same operations
// either way (the same k blocks, one FMA chain per block, the same scaling),
// so the choice never changes a result (TestDirectBitIdentical).
//
// Every C element is accumulated in index order within a k block and the
// blocks are added in order, so results are bit-identical from call to
// call whatever the scheduling. Packing buffers come from a free list that
// survives garbage collections: a call allocates nothing in steady state
// and concurrent calls never share buffers. Sgemm never starts goroutines.
package gemm
