package data

import (
	"fmt"
	"math"
	"sync"

	"github.com/mpanalyze/mpanalyze/internal/parallel"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/mask"
)

// Batches: samples resized and padded to the model's square S×S input,
// with optional flip and scale-jitter augmentation, and their ground truth
// at full and stride-4 resolution.
//
// Geometry: the letterbox policy of Frame (frame.go), with the
// augmentation drawn per image.
//
// Determinism. Image j of the batch of training step `step` draws its
// augmentation from rng.Derive(Seed, "augment", step, j, index), and the
// sample itself is a pure function of the index, so a batch is a pure
// function of (dataset, indices, config, step) whatever the number of
// workers or GOMAXPROCS.

// Augment configures training-time augmentation. The zero value means
// none.
type Augment struct {
	// Flip mirrors an image horizontally with probability 1/2.
	Flip bool
	// ScaleMin and ScaleMax bound a log-uniform scale factor applied on
	// top of fitting the long side to S; the window is then placed at a
	// uniformly random offset (a crop when the scaled image is larger than
	// S, padding around it when smaller). Both 0 means factor 1.
	ScaleMin, ScaleMax float64
}

// AugParams is the augmentation drawn for one image.
type AugParams struct {
	Flip       bool
	Scale      float64 // factor on top of the fit to S (1 = fit)
	OffX, OffY int     // window offset in the scaled image; negative = padding before the image
}

// BatchConfig configures MakeBatch and Loader.
type BatchConfig struct {
	// Size is the side S of the model input; a positive multiple of 32.
	Size int
	// Augment is the training augmentation (zero value: none).
	Augment Augment
	// Seed fixes the augmentation draws.
	Seed uint64
	// Workers is the number of goroutines that build the images of a
	// batch; ≤ 1 builds them one after another. It never changes the
	// result.
	Workers int
}

// BatchImage is one model input with its ground truth. GT segments are
// the sample's instances (things and stuff) that survive the
// augmentation, in the sample's order; segment k has panoptic id k+1.
type BatchImage struct {
	Index int       // dataset index
	Aug   AugParams // the augmentation applied
	// Frame is the geometry between the sample's own H×W frame and the
	// S×S input; Frame.IDsToImage and Frame.MaskToImage carry model
	// outputs back to the sample's frame.
	Frame  Frame
	Input  []float32 // 3·S·S, CHW, RGB in [0, 1]; padding is 0 (the model normalises)
	Size   int       // S
	Source []int     // per segment: position in the sample's Instances
	// Classes and IsThing give each segment's class index and kind.
	Classes []int
	IsThing []bool
	// Masks are the S×S segment masks; they never overlap.
	Masks []*mask.Bits
	// Masks4 are the S/4×S/4 masks: the 4×4 cells at least half covered
	// by the segment (Cover4 ≥ 0.5). They can be empty for tiny segments.
	Masks4 []*mask.Bits
	// Cover4 is each segment's area coverage of every S/4×S/4 cell, in
	// [0, 1] (multiples of 1/16): soft targets for the mask loss.
	Cover4 [][]float32
	// Semantic is the class per pixel (S·S), Void for padding and void.
	Semantic []int32
	// Panoptic is the segment id per pixel (S·S): k+1 for segment k, 0
	// for padding and void.
	Panoptic []int32
}

// Batch is a list of images of one size.
type Batch struct {
	Size   int
	Images []BatchImage
}

// AsSample converts a batch image back to a Sample (RGB rounded from
// Input; instances from Masks with ids k+1), to preview or check what the
// model is fed.
func (im *BatchImage) AsSample() *Sample {
	n := im.Size * im.Size
	s := &Sample{Index: im.Index, H: im.Size, W: im.Size, RGB: make([]uint8, 3*n),
		Semantic: append([]int32(nil), im.Semantic...), Panoptic: append([]int32(nil), im.Panoptic...)}
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			s.RGB[3*i+c] = clampByte(float64(im.Input[c*n+i]) * 255)
		}
	}
	for k := range im.Masks {
		s.Instances = append(s.Instances, Instance{Class: im.Classes[k], IsThing: im.IsThing[k], ID: k + 1, Mask: im.Masks[k].Clone()})
	}
	return s
}

// DrawAugParams draws the augmentation of an h×w image for output side
// size from r. The zero Augment draws nothing and returns {Scale: 1}.
func DrawAugParams(a Augment, r *rng.RNG, h, w, size int) AugParams {
	p := AugParams{Scale: 1}
	if a.Flip {
		p.Flip = r.Bernoulli(0.5)
	}
	if a.ScaleMin == 0 && a.ScaleMax == 0 {
		return p
	}
	lo, hi := a.ScaleMin, a.ScaleMax
	if lo <= 0 || hi < lo {
		panic(fmt.Sprintf("data: bad scale jitter range [%g, %g]", lo, hi))
	}
	p.Scale = math.Exp(r.Uniform(math.Log(lo), math.Log(hi)))
	if lo == hi {
		p.Scale = lo
	}
	sw, sh := scaledSize(h, w, size, p.Scale)
	p.OffX = randomOffset(r, sw, size)
	p.OffY = randomOffset(r, sh, size)
	return p
}

// randomOffset places a window of side size over an extent of n pixels:
// a crop offset in [0, n−size] when n > size, else an offset in
// [n−size, 0] (padding split at random).
func randomOffset(r *rng.RNG, n, size int) int {
	if n >= size {
		return r.IntN(n - size + 1)
	}
	return -r.IntN(size - n + 1)
}

// MakeImage builds the model input and ground truth of sample s at side
// size with augmentation p, under the letterbox policy of Frame. Segment
// ids may be any positive numbers (a COCO panoptic PNG's RGB-encoded ids);
// pixels whose id is not one of s.Instances (void, crowd regions) are
// void. It panics if size is not a positive multiple of 4.
func MakeImage(s *Sample, size int, p AugParams) BatchImage {
	if size <= 0 || size%4 != 0 {
		panic(fmt.Sprintf("data: batch size S = %d is not a positive multiple of 4", size))
	}
	if p.Scale == 0 {
		p.Scale = 1
	}
	fr := AugmentedFrame(s.H, s.W, size, p)
	n := size * size
	im := BatchImage{Aug: p, Frame: fr, Index: s.Index, Size: size, Input: make([]float32, 3*n), Semantic: make([]int32, n), Panoptic: make([]int32, n)}
	im.resample(s)
	im.keepSegments(s)
	im.coverStride4()
	return im
}

// resample fills the input with the sample's colours, bilinearly
// resampled into the image's frame, and the panoptic map with the
// position + 1 in s.Instances of the segment nearest each pixel (0: void,
// not a segment, or padding). A repeated id keeps its first instance.
func (im *BatchImage) resample(s *Sample) {
	size, n, p := im.Size, im.Size*im.Size, im.Aug
	srcX, srcU := axis(s.W, im.Frame.SW, size, p.OffX, p.Flip)
	srcY, srcV := axis(s.H, im.Frame.SH, size, p.OffY, false)
	pos := make(map[int32]int32, len(s.Instances))
	for k, in := range s.Instances {
		if _, dup := pos[int32(in.ID)]; !dup && in.ID != 0 {
			pos[int32(in.ID)] = int32(k + 1)
		}
	}
	lastID, lastPos := int32(0), int32(0)
	for y := 0; y < size; y++ {
		sy := srcY[y]
		for x := 0; x < size; x++ {
			i := y*size + x
			sx := srcX[x]
			if sy < 0 || sx < 0 {
				continue
			}
			if id := s.Panoptic[sy*s.W+sx]; id != lastID {
				lastID, lastPos = id, pos[id]
			}
			im.Panoptic[i] = lastPos
			c := bilinearRGB(s.RGB, 3, s.W, s.H, srcU[x], srcV[y])
			im.Input[i] = float32(c[0] / 255)
			im.Input[n+i] = float32(c[1] / 255)
			im.Input[2*n+i] = float32(c[2] / 255)
		}
	}
}

// keepSegments keeps the segments of the resampled panoptic map that
// survive, renumbered 1.. in the sample's order, and fills their classes,
// masks and the semantic map.
func (im *BatchImage) keepSegments(s *Sample) {
	pan := im.Panoptic
	area := make([]int, len(s.Instances)+1)
	for _, k := range pan {
		area[k]++
	}
	newID := make([]int32, len(s.Instances)+1)
	for k, in := range s.Instances {
		if area[k+1] == 0 {
			continue
		}
		im.Source = append(im.Source, k)
		im.Classes = append(im.Classes, in.Class)
		im.IsThing = append(im.IsThing, in.IsThing)
		im.Masks = append(im.Masks, mask.New(im.Size, im.Size))
		newID[k+1] = int32(len(im.Source))
	}
	for i, id := range pan {
		if id == 0 {
			im.Semantic[i] = Void
			continue
		}
		k := newID[id]
		pan[i] = k
		im.Semantic[i] = int32(im.Classes[k-1])
		im.Masks[k-1].Words[i>>6] |= 1 << uint(i&63)
	}
}

// coverStride4 computes every segment's coverage of the 4×4 cells of the
// stride-4 grid (Cover4, covered pixels / 16) and its stride-4 mask
// (Masks4: cells at least half covered).
func (im *BatchImage) coverStride4() {
	size := im.Size
	s4 := size / 4
	cnt := make([][]uint8, len(im.Source))
	for k := range cnt {
		cnt[k] = make([]uint8, s4*s4)
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			if id := im.Panoptic[y*size+x]; id > 0 {
				cnt[id-1][(y/4)*s4+x/4]++
			}
		}
	}
	for k := range cnt {
		cov := make([]float32, s4*s4)
		m4 := mask.New(s4, s4)
		for c, v := range cnt[k] {
			cov[c] = float32(v) / 16
			if v >= 8 {
				m4.Words[c>>6] |= 1 << uint(c&63)
			}
		}
		im.Cover4 = append(im.Cover4, cov)
		im.Masks4 = append(im.Masks4, m4)
	}
}

// MakeBatch builds the batch of dataset images indices for training step
// step (the step only seeds the augmentation). Errors name the failing
// index; with several failures the one earliest in indices is returned.
func MakeBatch(ds Dataset, indices []int, cfg BatchConfig, step int) (*Batch, error) {
	if cfg.Size <= 0 || cfg.Size%32 != 0 {
		return nil, fmt.Errorf("data: batch image size %d is not a positive multiple of 32", cfg.Size)
	}
	if a := cfg.Augment; a.ScaleMin != 0 || a.ScaleMax != 0 {
		if a.ScaleMin <= 0 || a.ScaleMax < a.ScaleMin {
			return nil, fmt.Errorf("data: bad scale jitter range [%g, %g]", a.ScaleMin, a.ScaleMax)
		}
	}
	b := &Batch{Size: cfg.Size, Images: make([]BatchImage, len(indices))}
	errs := make([]error, len(indices))
	parallel.For(len(indices), cfg.Workers, func(j int) {
		idx := indices[j]
		s, err := ds.Sample(idx)
		if err != nil {
			errs[j] = fmt.Errorf("data: batch image %d (index %d): %w", j, idx, err)
			return
		}
		r := rng.New(rng.Derive(cfg.Seed, strKey("augment"), uint64(step), uint64(j), uint64(idx)))
		b.Images[j] = MakeImage(s, cfg.Size, DrawAugParams(cfg.Augment, r, s.H, s.W, cfg.Size))
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Sampler orders a dataset into batches: epoch e visits the N indices in a
// random order drawn from (Seed, e), cut into N/BatchSize batches (the
// last incomplete batch of an epoch is dropped). Global step k is batch
// k mod StepsPerEpoch of epoch k / StepsPerEpoch, so a training run
// resumed at step k sees exactly the batches it would have seen.
type Sampler struct {
	N         int
	BatchSize int
	Seed      uint64
}

// StepsPerEpoch is N / BatchSize. It panics if that is 0.
func (s Sampler) StepsPerEpoch() int {
	if s.BatchSize <= 0 || s.N < s.BatchSize {
		panic(fmt.Sprintf("data: sampler: batch size %d for %d images", s.BatchSize, s.N))
	}
	return s.N / s.BatchSize
}

// Epoch returns the visiting order of epoch e, a permutation of 0..N-1.
func (s Sampler) Epoch(e int) []int {
	return rng.New(rng.Derive(s.Seed, strKey("epoch"), uint64(e))).Perm(s.N)
}

// Loader builds the batches of a training run: Batch(k) is the batch of
// global step k, a pure function of the dataset, the sampler and the
// config. It caches the current epoch's order and is safe for concurrent
// use.
type Loader struct {
	DS      Dataset
	Sampler Sampler
	Config  BatchConfig

	mu    sync.Mutex
	epoch int
	order []int
}

// NewLoader returns a loader over all of ds with the given batch size;
// the sampler's seed is cfg.Seed.
func NewLoader(ds Dataset, batchSize int, cfg BatchConfig) (*Loader, error) {
	if batchSize <= 0 || batchSize > ds.Len() {
		return nil, fmt.Errorf("data: batch size %d for a dataset of %d images", batchSize, ds.Len())
	}
	return &Loader{DS: ds, Sampler: Sampler{N: ds.Len(), BatchSize: batchSize, Seed: cfg.Seed}, Config: cfg, epoch: -1}, nil
}

// Indices returns the epoch and dataset indices of step k.
func (l *Loader) Indices(k int) (epoch int, indices []int) {
	spe := l.Sampler.StepsPerEpoch()
	epoch = k / spe
	l.mu.Lock()
	if l.epoch != epoch {
		l.order, l.epoch = l.Sampler.Epoch(epoch), epoch
	}
	b := k % spe
	indices = append([]int(nil), l.order[b*l.Sampler.BatchSize:(b+1)*l.Sampler.BatchSize]...)
	l.mu.Unlock()
	return epoch, indices
}

// Batch builds the batch of step k.
func (l *Loader) Batch(k int) (*Batch, error) {
	_, idx := l.Indices(k)
	return MakeBatch(l.DS, idx, l.Config, k)
}
