package model

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/model/engine"
)

// Model is a MaskFormer, Mask2Former or MP-Former: backbone, pixel
// decoder, transformer decoder and heads, with their parameters.
type Model struct {
	Cfg      Config
	params   *params
	backbone *backbone
	pixel    PixelDecoder
	masked   *maskedDecoder // mask2former, mpformer
	plain    *plainDecoder  // maskformer
	h4, w4   int            // mask logit size (stride 4)
	levels   [3][2]int      // decoder levels (strides 32, 16, 8)
}

// ImageNet normalisation of [0, 1] RGB input, as detectron2's PIXEL_MEAN
// and PIXEL_STD (divided by 255).
var (
	pixelMean = [3]float32{0.485, 0.456, 0.406}
	pixelStd  = [3]float32{0.229, 0.224, 0.225}
)

// New builds a model with freshly initialised parameters; seed fixes the
// initialisation.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Cfg: cfg.withDefaults(), params: newParams(seed)}
	c := &m.Cfg
	m.backbone = newBackbone(m.params, c)
	switch c.PixelDecoder {
	case PixelMSDeform:
		m.pixel = newMSDeformDecoder(m.params, c)
	default:
		m.pixel = newFPN(m.params, c)
	}
	if c.Arch == ArchMaskFormer {
		m.plain = newPlainDecoder(m.params, c)
	} else {
		m.masked = newMaskedDecoder(m.params, c)
	}
	m.h4, m.w4 = c.ImageSize/4, c.ImageSize/4
	for i, s := range c.LevelStrides {
		m.levels[i] = [2]int{c.ImageSize / s, c.ImageSize / s}
	}
	// Official configs train the backbone at 0.1× the learning rate; that
	// serves an ImageNet-pretrained backbone, and ours starts from scratch,
	// so it keeps the full rate.
	return m, nil
}

// Params returns the parameters in a fixed order (creation order).
func (m *Model) Params() []*Param { return m.params.list }

// Param returns the parameter with the given name, or nil.
func (m *Model) Param(name string) *Param { return m.params.byName[name] }

// NumParams is the number of scalar parameters.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.params.list {
		n += p.Size()
	}
	return n
}

// MaskSize is the h×w of the mask logits (stride 4).
func (m *Model) MaskSize() (int, int) { return m.h4, m.w4 }

// LevelSizes are the h×w of the decoder's three feature levels.
func (m *Model) LevelSizes() [3][2]int { return m.levels }

// normalizeInto writes the normalised image (3×S×S) into x.
func normalizeInto(x, img []float32, S int) {
	for ch := 0; ch < 3; ch++ {
		mu, sd := pixelMean[ch], pixelStd[ch]
		src, dst := img[ch*S*S:(ch+1)*S*S], x[ch*S*S:(ch+1)*S*S]
		for i, v := range src {
			dst[i] = (v - mu) / sd
		}
	}
}

// forward runs the network on one image and returns every prediction
// stage. mp is the MP part (MP-Former training) or nil.
func (m *Model) forward(g *Graph, img []float32, mp *mpInput) []StageOutput {
	maskFeat, levels := m.pixelFeatures(g, [][]float32{img})
	return m.decode(g, maskFeat, levels, []*mpInput{mp})[0]
}

// decode runs the transformer decoder on a batch of images' pixel
// features (see maskedDecoder.forward) and returns each image's stages.
func (m *Model) decode(g *Graph, maskFeat *Tensor, levels [3]*Tensor, mps []*mpInput) [][]StageOutput {
	if m.plain != nil {
		return m.plain.forward(g, maskFeat, levels)
	}
	return m.masked.forward(g, maskFeat, levels, mps)
}

// batchPixels reports whether the backbone and pixel decoder can run on
// several images as one batch (the FPN pixel decoder; MSDeformAttn's runs
// image by image).
func (m *Model) batchPixels() bool { return m.Cfg.PixelDecoder == PixelFPN }

// pixelFeatures runs the backbone and the pixel decoder on the images as
// one batch [N, …] and returns the mask features [N, MaskDim, H4, W4] and
// the decoder's three levels [N, C, h, w]. The convolutions and group
// norms compute every image as they would alone and add each weight's
// per-image gradients in image order. Several images need the FPN pixel
// decoder (batchPixels).
func (m *Model) pixelFeatures(g *Graph, imgs [][]float32) (*Tensor, [3]*Tensor) {
	S := m.Cfg.ImageSize
	n := len(imgs)
	if n > 1 && !m.batchPixels() {
		panic(fmt.Sprintf("model: %d images in one batch with the %s pixel decoder", n, m.Cfg.PixelDecoder))
	}
	x := g.Scratch(n * 3 * S * S)
	for i, img := range imgs {
		if len(img) != 3*S*S {
			panic(fmt.Sprintf("model: input has %d values, want 3×%d×%d", len(img), S, S))
		}
		normalizeInto(x[i*3*S*S:], img, S)
	}
	feats := m.backbone.fwd(g, g.Const(x, n, 3, S, S))
	maskFeat, all := m.pixel.Forward(g, feats)
	return maskFeat, pickLevels(all, m.Cfg.LevelStrides)
}

// Predict runs inference on one image (no gradients, no MP part) and
// returns the prediction stages. The tensors live in g until g.Reset.
func (m *Model) Predict(g *Graph, img []float32) []StageOutput {
	was := g.SetGrad(false)
	defer g.SetGrad(was)
	return m.forward(g, img, nil)
}

// NewGraph returns a float32 graph for Predict and the criterion.
func NewGraph() *Graph { return engine.NewGraph[float32]() }
