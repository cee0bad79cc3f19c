package probes

import (
	"encoding/binary"
	"errors"
	"fmt"
	mbits "math/bits"

	"github.com/mpanalyze/mpanalyze/mask"
)

// Run-length encoding of the compact layout's binary masks, as COCO's RLE
// (pycocotools' maskApi.c rleEncode) but in row-major pixel order: a mask
// of n = h·w pixels is the run lengths of alternating values, starting
// with the count of leading 0 pixels (0 when pixel 0 is set), summing to
// n. Runs are stored as uint16: a run longer than maxRun is written as
// maxRun, 0, rest (an empty run of the other value between), so that any
// mask size fits. numpy rebuilds a mask with
//
//	np.repeat(np.arange(len(runs)) % 2, runs).astype(bool)
//
// The masks of one array are stored back to back in <name>_runs, with
// <name>_nruns giving each mask's number of runs.
//
// Measured on a COCO-size image (1000 masks of 200×336, ~205 runs per
// mask): 410 KB of uint16 runs, decoded in about 1 ms; bit-packed with
// np.packbits and deflated the same masks take 287 KB and 5–8 ms to
// inflate (TRACE.md).

// maxRun is the longest run one uint16 holds.
const maxRun = 1<<16 - 1

// appendRuns appends the run lengths of m to dst.
func appendRuns(dst []uint16, m *mask.Bits) []uint16 {
	n := m.Len()
	pos, val := 0, uint64(0) // val: the value of the run being measured
	for pos < n {
		// Find the next pixel ≥ pos whose value differs from val.
		end := n
		for i := pos >> 6; i < len(m.Words); i++ {
			w := m.Words[i] ^ -val // bits that differ from val (val is 0 or 1)
			if i == pos>>6 {
				w &= ^uint64(0) << uint(pos&63)
			}
			if w != 0 {
				end = min(n, i<<6+mbits.TrailingZeros64(w))
				break
			}
		}
		dst = appendRun(dst, end-pos)
		pos, val = end, 1-val
	}
	if n == 0 {
		dst = append(dst, 0)
	}
	return dst
}

// appendRun appends one run, split into uint16 pieces.
func appendRun(dst []uint16, r int) []uint16 {
	for r > maxRun {
		dst = append(dst, maxRun, 0)
		r -= maxRun
	}
	return append(dst, uint16(r))
}

// appendRunsLogits appends the run lengths of logit > 0 (NaN unset).
func appendRunsLogits(dst []uint16, logits []float32) []uint16 {
	run, val := 0, false
	for _, x := range logits {
		if (x > 0) != val {
			dst = appendRun(dst, run)
			run, val = 0, !val
		}
		run++
	}
	return appendRun(dst, run)
}

// appendRunsBools appends the run lengths of v.
func appendRunsBools(dst []uint16, v []bool) []uint16 {
	run, val := 0, false
	for _, x := range v {
		if x != val {
			dst = appendRun(dst, run)
			run, val = 0, !val
		}
		run++
	}
	return appendRun(dst, run)
}

var errRuns = errors.New("runs do not cover the mask")

// decodeRuns sets m from its runs, which must sum to m.Len().
func decodeRuns(m *mask.Bits, runs []uint16) error {
	clear(m.Words)
	n := m.Len()
	pos := 0
	for i, r := range runs {
		end := pos + int(r)
		if end > n {
			return fmt.Errorf("%w: %d pixels past %d", errRuns, end, n)
		}
		if i&1 == 1 {
			setRange(m.Words, pos, end)
		}
		pos = end
	}
	if pos != n {
		return fmt.Errorf("%w: %d of %d pixels", errRuns, pos, n)
	}
	return nil
}

// setRange sets bits [a, b) of w.
func setRange(w []uint64, a, b int) {
	if a >= b {
		return
	}
	i, j := a>>6, (b-1)>>6
	lo := ^uint64(0) << uint(a&63)
	hi := ^uint64(0) >> uint(63-(b-1)&63)
	if i == j {
		w[i] |= lo & hi
		return
	}
	w[i] |= lo
	for k := i + 1; k < j; k++ {
		w[k] = ^uint64(0)
	}
	w[j] |= hi
}

// stageRuns encodes rows [first, first+n) of a stage's binary masks
// (Masks, else MaskLogits > 0), appending the runs to runs and each row's
// run count to counts.
func stageRuns(runs []uint16, counts []int32, st *Stage, first, n int) ([]uint16, []int32) {
	HW := st.H * st.W
	for r := first; r < first+n; r++ {
		before := len(runs)
		if st.Masks != nil {
			runs = appendRuns(runs, st.Masks[r])
		} else {
			runs = appendRunsLogits(runs, st.MaskLogits[r*HW:(r+1)*HW])
		}
		counts = append(counts, int32(len(runs)-before))
	}
	return runs, counts
}

// attnRuns encodes rows [first, first+n) of a stage's attention mask
// (AttnBits, else AttnMask).
func attnRuns(runs []uint16, counts []int32, st *Stage, first, n int) ([]uint16, []int32) {
	cells := st.AttnH * st.AttnW
	for r := first; r < first+n; r++ {
		before := len(runs)
		if st.AttnBits != nil {
			runs = appendRuns(runs, st.AttnBits[r])
		} else {
			runs = appendRunsBools(runs, st.AttnMask[r*cells:(r+1)*cells])
		}
		counts = append(counts, int32(len(runs)-before))
	}
	return runs, counts
}

// attnBytes writes n rows, from row first on, of a stage's attention mask
// as 0/1 bytes (the full layout's |b1 arrays) into dst.
func attnBytes(dst []byte, st *Stage, first, n int) {
	cells := st.AttnH * st.AttnW
	for r := 0; r < n; r++ {
		d := dst[r*cells : (r+1)*cells]
		if st.AttnBits != nil {
			m := st.AttnBits[first+r]
			for i := range d {
				d[i] = byte(m.Words[i>>6] >> uint(i&63) & 1)
			}
		} else {
			for i, b := range st.AttnMask[(first+r)*cells : (first+r+1)*cells] {
				d[i] = b2u(b)
			}
		}
	}
}

// putRuns encodes runs little-endian into dst (2 bytes each).
func putRuns(dst []byte, runs []uint16) {
	for i, r := range runs {
		binary.LittleEndian.PutUint16(dst[2*i:], r)
	}
}
