package probes

import (
	"encoding/binary"
	mbits "math/bits"

	"github.com/mpanalyze/mpanalyze/data/mask"
)

// Bit packing of the compact layout. A boolean array's last two axes
// (h×w pixels, row-major) are flattened and packed as np.packbits does with
// bitorder="little": 8 pixels per byte, the first pixel in the least
// significant bit, the last byte padded with zero bits. numpy reads it back
// with np.unpackbits(a, axis=-1, count=h*w, bitorder="little"). The reader
// also accepts numpy's default "big" order (storage.bitorder), where the
// first pixel is the most significant bit.
//
// Writers use the little order because it is mask.Bits' own: pixel i is
// bit i%64 of word i/64, so 8 packed bytes read as a little-endian uint64
// are a word of the mask, and unpacking is a copy. The big order needs
// every byte's bits reversed (bits.Reverse64 of the big-endian word),
// which cost about a third of the time to read a COCO-size image when
// measured (see TRACE.md).

// Bit orders of storage.bitorder.
const (
	bitOrderLittle = "little"
	bitOrderBig    = "big"
)

// packBits packs m in little bit order into dst, which holds
// packedLen(m.Len()) bytes.
func packBits(dst []byte, m *mask.Bits) {
	n := len(dst)
	full := n / 8
	for i := 0; i < full; i++ {
		binary.LittleEndian.PutUint64(dst[8*i:], m.Words[i])
	}
	if rest := n - 8*full; rest > 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], m.Words[full])
		copy(dst[8*full:], b[:rest])
	}
}

// unpackBits fills m (h×w, any previous content) from packedLen(h·w)
// packed bytes of the given order (big: numpy's default). It reports false
// when a padding bit of the last byte is set (the data is not what
// np.packbits writes); those bits are then cleared.
func unpackBits(m *mask.Bits, src []byte, big bool) bool {
	n := len(src)
	full := n / 8
	w := m.Words[:(n+7)/8]
	if big {
		for i := 0; i < full; i++ {
			w[i] = mbits.Reverse64(binary.BigEndian.Uint64(src[8*i:]))
		}
	} else {
		for i := 0; i < full; i++ {
			w[i] = binary.LittleEndian.Uint64(src[8*i:])
		}
	}
	if rest := n - 8*full; rest > 0 {
		var b [8]byte
		copy(b[:], src[8*full:])
		if big {
			w[full] = mbits.Reverse64(binary.BigEndian.Uint64(b[:]))
		} else {
			w[full] = binary.LittleEndian.Uint64(b[:])
		}
	}
	if tail := m.Len() % 64; tail != 0 {
		last := len(w) - 1
		if w[last]>>uint(tail) != 0 {
			w[last] &= 1<<uint(tail) - 1
			return false
		}
	}
	return true
}

// packLogits packs logit > 0 of one mask, little bit order, into dst
// (packedLen(len(logits)) bytes). NaN logits are unset, as
// metrics.FromLogits has them.
func packLogits(dst []byte, logits []float32) {
	for i := range dst {
		v := logits[8*i : min(8*i+8, len(logits))]
		var b byte
		for j, x := range v {
			if x > 0 {
				b |= 1 << uint(j)
			}
		}
		dst[i] = b
	}
}

// packBools packs one row of booleans, little bit order, into dst
// (packedLen(len(v)) bytes).
func packBools(dst []byte, v []bool) {
	for i := range dst {
		row := v[8*i : min(8*i+8, len(v))]
		var b byte
		for j, x := range row {
			if x {
				b |= 1 << uint(j)
			}
		}
		dst[i] = b
	}
}

// packRows packs n rows, from row first on, of a stage's binary masks
// (Masks when set, else MaskLogits > 0) into dst, packedLen(H·W) bytes per
// row.
func packRows(dst []byte, st *Stage, first, n int) {
	HW := st.H * st.W
	nb := packedLen(HW)
	for r := 0; r < n; r++ {
		d := dst[r*nb : (r+1)*nb]
		if st.Masks != nil {
			packBits(d, st.Masks[first+r])
		} else {
			packLogits(d, st.MaskLogits[(first+r)*HW:(first+r+1)*HW])
		}
	}
}

// packAttnRows packs n rows, from row first on, of a stage's attention
// mask (AttnBits or AttnMask) into dst.
func packAttnRows(dst []byte, st *Stage, first, n int) {
	cells := st.AttnH * st.AttnW
	nb := packedLen(cells)
	for r := 0; r < n; r++ {
		d := dst[r*nb : (r+1)*nb]
		if st.AttnBits != nil {
			packBits(d, st.AttnBits[first+r])
		} else {
			packBools(d, st.AttnMask[(first+r)*cells:(first+r+1)*cells])
		}
	}
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
