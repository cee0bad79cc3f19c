package data

import (
	"fmt"
	"math"

	"github.com/mpanalyze/mpanalyze/mask"
)

// Frames: the one resize/pad policy between an image's own frame and the
// model's input, used by training, eval, probe and predict alike.
//
// Policy (a square letterbox). The model reads a fixed S×S input. An H×W
// image is scaled by t = Scale·S/max(H, W), the long side fitting S
// exactly when Scale = 1, to SW×SH = round(W·t)×round(H·t) pixels (each at
// least 1), and the S×S window shows the scaled image from offset (OffX,
// OffY): model pixel (x, y) is scaled pixel (x+OffX, y+OffY); model
// pixels outside the scaled image are padding (input 0, ground truth
// void). Without augmentation (eval, probe, predict) Scale = 1 and the
// offset is (0, 0), so the image sits in the top-left corner and the
// padding is at the right and bottom, as detectron2 pads a batch
// (ImageList.from_tensors pads at the right and bottom). Training
// augmentation may flip the image, change Scale and move the window.
//
// Forward (image → model). Scaled column X samples source column
// floor((X+0.5)·W/SW), its pixel centre, and likewise for rows; a flip
// mirrors the source column (W−1−x). Masks and id maps are sampled by
// nearest neighbour this way, so they stay exact pixel sets; the RGB
// image is sampled bilinearly at the same centres (MakeImage).
//
// Inverse (model → image). Source pixel x takes the scaled column X whose
// forward sample is x and whose centre is nearest to x's centre; when no
// scaled column samples x (downscaling skips some), it takes the scaled
// column whose centre is nearest, floor((x+0.5)·SW/W). Pixels whose
// scaled pixel falls outside the window (a crop) get no value (void).
// The inverse is exact in both directions where that is possible:
//
//   - upscaling (SW ≥ W, SH ≥ H): image → model → image is the identity,
//     so ground truth mapped to the model and back is unchanged;
//   - downscaling (SW ≤ W, SH ≤ H): model → image → model is the identity,
//     so a prediction mapped to the image and sampled again is unchanged.
//
// Model predictions (semantic, panoptic and instance masks at S×S) are
// mapped to the image's own frame with the inverse and scored there,
// against the original ground truth. Mask2Former instead upsamples the
// mask logits bilinearly to the image size before thresholding
// (detectron2's sem_seg_postprocess: crop to the resized size, then
// F.interpolate to the original size); here the binary decisions are
// taken at S×S and carried over by nearest neighbour, so boundaries have
// the model's resolution.

// Frame is the geometry between an H×W image and the S×S model input.
// The zero value is not a valid frame; build one with LetterboxFrame or
// AugmentedFrame.
type Frame struct {
	H int `json:"h"` // the image's own size
	W int `json:"w"`
	S int `json:"s"` // the model's input side
	// SW, SH is the size of the scaled image, in model pixels.
	SW int `json:"sw"`
	SH int `json:"sh"`
	// OffX, OffY is the window's offset in the scaled image; negative
	// values are padding before the image.
	OffX int `json:"off_x"`
	OffY int `json:"off_y"`
	// Flip mirrors the image horizontally before scaling.
	Flip bool `json:"flip"`
	// Scale is the factor on top of fitting the long side to S.
	Scale float64 `json:"scale"`
}

// LetterboxFrame is the frame of an h×w image at model side s without
// augmentation: the long side fits s, the image sits at the top left.
func LetterboxFrame(h, w, s int) Frame {
	return AugmentedFrame(h, w, s, AugParams{Scale: 1})
}

// AugmentedFrame is the frame of an h×w image at model side s with
// augmentation p (p.Scale 0 means 1). It panics if h, w or s is not
// positive.
func AugmentedFrame(h, w, s int, p AugParams) Frame {
	if h <= 0 || w <= 0 || s <= 0 {
		panic(fmt.Sprintf("data: frame of a %d×%d image at side %d", h, w, s))
	}
	if p.Scale == 0 {
		p.Scale = 1
	}
	sw, sh := scaledSize(h, w, s, p.Scale)
	return Frame{H: h, W: w, S: s, SW: sw, SH: sh, OffX: p.OffX, OffY: p.OffY, Flip: p.Flip, Scale: p.Scale}
}

// scaledSize is the size of an h×w image scaled to fit side size, times
// factor.
func scaledSize(h, w, size int, factor float64) (sw, sh int) {
	t := factor * float64(size) / float64(max(h, w))
	return max(1, int(math.Round(float64(w)*t))), max(1, int(math.Round(float64(h)*t)))
}

// forwardIndex is the source index sampled by scaled index X of an axis of
// n source pixels shown as m scaled pixels: floor((X+0.5)·n/m), clamped.
// The arithmetic is MakeImage's since the first release, kept bit for bit
// so that batches do not change.
func forwardIndex(X, n, m int) int {
	k := float64(n) / float64(m)
	return min(int((float64(X)+0.5)*k), n-1)
}

// axis returns, for one axis, the source index of every model index (-1
// for padding) and the source coordinate (pixel-centre convention) for
// bilinear sampling.
func axis(n, m, s, off int, flip bool) (src []int, coord []float64) {
	src = make([]int, s)
	coord = make([]float64, s)
	k := float64(n) / float64(m)
	for x := 0; x < s; x++ {
		X := x + off
		if X < 0 || X >= m {
			src[x] = -1
			continue
		}
		c := (float64(X) + 0.5) * k
		i := min(int(c), n-1)
		u := c - 0.5
		if flip {
			i = n - 1 - i
			u = float64(n-1) - u
		}
		src[x], coord[x] = i, u
	}
	return src, coord
}

// SourceColumns returns the source column of every model column, -1 for
// padding.
func (f Frame) SourceColumns() []int {
	src, _ := axis(f.W, f.SW, f.S, f.OffX, f.Flip)
	return src
}

// SourceRows returns the source row of every model row, -1 for padding.
func (f Frame) SourceRows() []int {
	src, _ := axis(f.H, f.SH, f.S, f.OffY, false)
	return src
}

// inverseAxis returns, for each of the n source indices, the model index
// that carries it back (see the package notes on frames), or -1 when it
// falls outside the window.
func inverseAxis(n, m, s, off int, flip bool) []int {
	// The run of scaled indices that sample each source index; forward
	// indices are non-decreasing in X.
	lo := make([]int, n)
	hi := make([]int, n)
	for i := range lo {
		lo[i], hi[i] = -1, -2
	}
	for X := 0; X < m; X++ {
		i := forwardIndex(X, n, m)
		if lo[i] < 0 {
			lo[i] = X
		}
		hi[i] = X
	}
	out := make([]int, n)
	for i := range out {
		X := min(int((float64(i)+0.5)*float64(m)/float64(n)), m-1)
		if lo[i] >= 0 {
			X = min(max(X, lo[i]), hi[i])
		}
		out[i] = X
	}
	if flip {
		// Source i was mirrored to n−1−i before scaling.
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	for i, X := range out {
		if x := X - off; x >= 0 && x < s {
			out[i] = x
		} else {
			out[i] = -1
		}
	}
	return out
}

// ModelColumns returns, for every source column, the model column that
// carries it back to the image, or -1 (outside the window).
func (f Frame) ModelColumns() []int { return inverseAxis(f.W, f.SW, f.S, f.OffX, f.Flip) }

// ModelRows returns, for every source row, the model row that carries it
// back to the image, or -1 (outside the window).
func (f Frame) ModelRows() []int { return inverseAxis(f.H, f.SH, f.S, f.OffY, false) }

// IDsToImage maps an S×S per-pixel map (segment ids, classes) to the
// image's H×W frame with the inverse; pixels outside the window get fill.
// It panics if len(m) ≠ S·S.
func (f Frame) IDsToImage(m []int32, fill int32) []int32 {
	if len(m) != f.S*f.S {
		panic(fmt.Sprintf("data: %d values for an S×S = %d×%d map", len(m), f.S, f.S))
	}
	cols, rows := f.ModelColumns(), f.ModelRows()
	out := make([]int32, f.H*f.W)
	for y, ry := range rows {
		row := out[y*f.W : (y+1)*f.W]
		if ry < 0 {
			for x := range row {
				row[x] = fill
			}
			continue
		}
		src := m[ry*f.S : (ry+1)*f.S]
		for x, cx := range cols {
			if cx < 0 {
				row[x] = fill
			} else {
				row[x] = src[cx]
			}
		}
	}
	return out
}

// MaskToImage maps an S×S mask to the image's H×W frame with the inverse.
// It panics if m is not S×S.
func (f Frame) MaskToImage(m *mask.Bits) *mask.Bits {
	if m.H != f.S || m.W != f.S {
		panic(fmt.Sprintf("data: %d×%d mask for an S×S = %d×%d frame", m.H, m.W, f.S, f.S))
	}
	return f.maskToImage(m, f.ModelColumns(), f.ModelRows())
}

func (f Frame) maskToImage(m *mask.Bits, cols, rows []int) *mask.Bits {
	out := mask.New(f.H, f.W)
	for y, ry := range rows {
		if ry < 0 {
			continue
		}
		base := ry * f.S
		for x, cx := range cols {
			if cx >= 0 && m.Get(base+cx) {
				i := y*f.W + x
				out.Words[i>>6] |= 1 << uint(i&63)
			}
		}
	}
	return out
}

// MasksToImage maps several S×S masks at once (the inverse tables are
// built once).
func (f Frame) MasksToImage(ms []*mask.Bits) []*mask.Bits {
	cols, rows := f.ModelColumns(), f.ModelRows()
	out := make([]*mask.Bits, len(ms))
	for k, m := range ms {
		if m.H != f.S || m.W != f.S {
			panic(fmt.Sprintf("data: %d×%d mask for an S×S = %d×%d frame", m.H, m.W, f.S, f.S))
		}
		out[k] = f.maskToImage(m, cols, rows)
	}
	return out
}
