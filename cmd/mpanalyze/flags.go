package main

import (
	"strings"

	"github.com/spf13/pflag"

	"github.com/mpanalyze/mpanalyze/data"
	_ "github.com/mpanalyze/mpanalyze/data/coco" // registers the "coco" kind
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/model"
)

// addDatasetFlags adds the flags that pick a dataset. prefix is "" for the
// main dataset and e.g. "val-" for a second one.
func addDatasetFlags(f *pflag.FlagSet, s *data.Spec, prefix, split string) {
	f.StringVar(&s.Kind, prefix+"kind", "synthetic", "dataset kind: "+strings.Join(data.Kinds(), ", "))
	f.StringVar(&s.Split, prefix+"split", split, "split: train or val")
	f.IntVar(&s.N, prefix+"n", 0, "number of images (0 = all: 10000 train / 1000 val generated images, every image of a COCO file)")
	f.IntVar(&s.Size, prefix+"size", 0, "side of generated images (0 = 128)")
	f.Uint64Var(&s.Seed, prefix+"data-seed", 0, "seed of generated scenes")
	f.IntVar(&s.MaxThings, prefix+"max-things", 0, "most things per generated image (0 = the kind's default)")
	f.BoolVar(&s.ShapeOnly, prefix+"shape-only", false, "synthetic: no class colour hints (only shape and texture tell the classes)")
	f.StringVar(&s.Annotations, prefix+"annotations", "", "coco: instance or panoptic JSON file")
	f.StringVar(&s.Images, prefix+"image-dir", "", "coco: image directory")
	f.StringVar(&s.PanopticPNGs, prefix+"panoptic-pngs", "", "coco: panoptic PNG directory (panoptic JSON)")
	f.BoolVar(&s.SkipInvalid, prefix+"skip-invalid", false, "coco: skip (and count) bad annotations instead of failing")
	limitDatasetFlags(f, prefix)
}

// checkDatasetFlags refuses a dataset spec whose kind lacks the flags it
// needs (a usage error naming them).
func checkDatasetFlags(s data.Spec, prefix string) error {
	if s.Kind == "coco" && (s.Annotations == "" || s.Images == "") {
		return usageErrorf("--%skind coco needs --%sannotations (the COCO instance or panoptic JSON) and --%simage-dir (and --%spanoptic-pngs for a panoptic file)", prefix, prefix, prefix, prefix)
	}
	return nil
}

// archs are the --model values.
var archs = []string{model.ArchMaskFormer, model.ArchMask2Former, model.ArchMPFormer}

// limitDatasetFlags sets the ranges of the dataset flags (data/synthetic.go
// fillGenerated checks the same for generated kinds).
func limitDatasetFlags(f *pflag.FlagSet, prefix string) {
	oneOf(f, prefix+"kind", data.Kinds()...)
	oneOf(f, prefix+"split", "train", "val")
	limit(f, prefix+"n", limits.AtLeast(1).Or(0, "all: 10000 train / 1000 val generated images, 5000 / 500 photos, every image of a COCO file"))
	limit(f, prefix+"size", limits.Ints(32, 4096).Or(0, "128"))
	limit(f, prefix+"data-seed", limits.Any())
	limit(f, prefix+"max-things", limits.Ints(1, 100).Or(0, "the kind's default"))
}

// modelFlags are the model config flags shared by train and ablations.
type modelFlags struct {
	arch                            string
	imageSize, queries, hidden, ffn int
	heads, layers, points           int
	pixelDim, maskDim               int
	lossWeights, matchWeights       []float64
	pixelDecoder                    string
	encLayers                       int
	queryPos                        bool
	mpGroups, mpLayers              int
	mpNoise                         string
	mpNoiseRatio, labelNoise        float64
	mpNoClassLoss                   bool
}

func addModelFlags(f *pflag.FlagSet, m *modelFlags) {
	d := model.DefaultConfig(model.ArchMask2Former, 1)
	f.StringVar(&m.arch, "model", model.ArchMask2Former, "architecture: maskformer, mask2former or mpformer")
	f.IntVar(&m.imageSize, "image-size", d.ImageSize, "input side (multiple of 32)")
	f.IntVar(&m.queries, "queries", d.Queries, "number of queries")
	f.IntVar(&m.hidden, "hidden", d.Hidden, "transformer width")
	f.IntVar(&m.ffn, "ffn", d.FFN, "feed-forward width")
	f.IntVar(&m.heads, "heads", d.Heads, "attention heads")
	f.IntVar(&m.layers, "layers", 0, "decoder layers (0 = 9 for mask2former/mpformer, 6 for maskformer)")
	f.IntVar(&m.points, "points", 0, "sampled points for matching and mask losses (0 = every stride-4 pixel against stride-4 coverage; >0 = the official path: uniform matching points, importance-sampled loss points, full-resolution GT; the official code samples 12544)")
	f.IntVar(&m.pixelDim, "pixel-dim", d.PixelDim, "pixel decoder width (official 256)")
	f.IntVar(&m.maskDim, "mask-dim", d.MaskDim, "mask feature and mask embedding width (official 256)")
	f.Float64SliceVar(&m.lossWeights, "loss-weights", []float64{d.Loss.ClassWeight, d.Loss.MaskWeight, d.Loss.DiceWeight}, "class, BCE and dice loss weights (official 2,5,5; see docs/model-card.md)")
	f.Float64SliceVar(&m.matchWeights, "match-weights", []float64{d.Loss.MatchClass, d.Loss.MatchMask, d.Loss.MatchDice}, "class, BCE and dice weights of the Hungarian matching cost")
	f.StringVar(&m.pixelDecoder, "pixel-decoder", model.PixelFPN, "pixel decoder: fpn or msdeform (Mask2Former's deformable-attention encoder)")
	f.IntVar(&m.encLayers, "enc-layers", 0, "msdeform: encoder layers (0 = 6)")
	f.BoolVar(&m.queryPos, "query-pos", d.QueryPos, "learnable query positional embeddings (keep equal across compared models)")
	f.IntVar(&m.mpGroups, "mp-groups", 1, "mpformer: MP groups")
	f.IntVar(&m.mpLayers, "mp-layers", 0, "mpformer: piloted layers, the first k (0 = all)")
	f.StringVar(&m.mpNoise, "mp-noise", "none", "mpformer: mask noise: none, point, shift or scale (the official code's; shift and scale without its x/y swap and without its inverted pilots after layer 1: docs/papers.md#mask-noise)")
	f.Float64Var(&m.mpNoiseRatio, "mp-noise-ratio", 0, "mpformer: mask noise ratio")
	f.Float64Var(&m.labelNoise, "label-noise", 0.2, "mpformer: probability of flipping an MP query's class embedding")
	f.BoolVar(&m.mpNoClassLoss, "mp-no-class-loss", false, "mpformer: drop the MP queries' class loss")
	oneOf(f, "model", archs...)
	oneOf(f, "mp-noise", "none", "point", "shift", "scale")
	oneOf(f, "pixel-decoder", model.PixelFPN, model.PixelMSDeform)
	limit(f, "enc-layers", limits.Ints(1, 100).Or(0, "6"))
	limit(f, "pixel-dim", limits.Ints(1, 4096))
	limit(f, "mask-dim", limits.Ints(1, 4096))
	limit(f, "loss-weights", limits.NonNegative())
	limit(f, "match-weights", limits.NonNegative())
	limit(f, "image-size", limits.Ints(32, 4096).Times(32))
	limit(f, "queries", limits.Ints(1, 1000))
	limit(f, "hidden", limits.Ints(1, 4096))
	limit(f, "ffn", limits.Ints(1, 16384))
	limit(f, "heads", limits.Ints(1, 256))
	limit(f, "layers", limits.Ints(1, 100).Or(0, "9 for mask2former/mpformer, 6 for maskformer"))
	limit(f, "points", limits.AtLeast(1).Or(0, "every stride-4 pixel"))
	limit(f, "mp-groups", limits.Ints(1, 100))
	limit(f, "mp-layers", limits.Ints(1, 100).Or(0, "all"))
	limit(f, "mp-noise-ratio", limits.NonNegative())
	limit(f, "label-noise", limits.Reals(0, 1))
}

// apply writes the flags into a config built for the dataset.
func (m *modelFlags) apply(c *model.Config) error {
	if len(m.lossWeights) != 3 {
		return usageErrorf("--loss-weights: want 3 values (class, BCE, dice), got %d", len(m.lossWeights))
	}
	if len(m.matchWeights) != 3 {
		return usageErrorf("--match-weights: want 3 values (class, BCE, dice), got %d", len(m.matchWeights))
	}
	c.ImageSize, c.Queries, c.Hidden, c.FFN, c.Heads = m.imageSize, m.queries, m.hidden, m.ffn, m.heads
	c.PixelDim, c.MaskDim = m.pixelDim, m.maskDim
	c.Loss.ClassWeight, c.Loss.MaskWeight, c.Loss.DiceWeight = m.lossWeights[0], m.lossWeights[1], m.lossWeights[2]
	c.Loss.MatchClass, c.Loss.MatchMask, c.Loss.MatchDice = m.matchWeights[0], m.matchWeights[1], m.matchWeights[2]
	if m.layers > 0 {
		c.DecLayers = m.layers
	}
	c.PixelDecoder = m.pixelDecoder
	if m.encLayers > 0 {
		c.MSDeform.Layers = m.encLayers
	}
	c.Loss.Points = m.points
	c.QueryPos = m.queryPos
	c.MP.Groups, c.MP.PilotLayers, c.MP.Noise = m.mpGroups, m.mpLayers, m.mpNoise
	c.MP.NoiseRatio, c.MP.LabelNoise, c.MP.NoClassLoss = m.mpNoiseRatio, m.labelNoise, m.mpNoClassLoss
	return nil
}
