package model

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/matcher"
)

// Architectures.
const (
	ArchMaskFormer  = "maskformer"
	ArchMask2Former = "mask2former"
	ArchMPFormer    = "mpformer"
)

// Config describes a model. Every field has a documented default (see
// DefaultConfig); the whole config is saved in every checkpoint, so a
// checkpoint rebuilds its model exactly.
type Config struct {
	// Arch is "maskformer", "mask2former" (default) or "mpformer".
	Arch string `json:"arch"`
	// ImageSize is the side of the square input, a multiple of 32.
	// Default 128.
	ImageSize int `json:"image_size"`
	// NumClasses is K, the number of classes (things and stuff); the class
	// head predicts K+1 logits, the last one "no object". Set from the
	// dataset.
	NumClasses int `json:"num_classes"`
	// Class names, for outputs; optional.
	ClassNames []string `json:"class_names,omitempty"`
	// ThingClasses marks thing classes (the others are stuff), for
	// panoptic and instance inference. Optional; all things when empty.
	ThingClasses []bool `json:"thing_classes,omitempty"`

	// BackboneWidths are the channels of the four residual stages at
	// strides 4, 8, 16, 32. Default [32, 64, 96, 128].
	BackboneWidths [4]int `json:"backbone_widths"`
	// BackboneBlocks are the residual blocks per stage. Default [1, 1, 1, 1].
	BackboneBlocks [4]int `json:"backbone_blocks"`
	// PixelDecoder is the pixel decoder: "fpn" (default; MaskFormer's
	// BasePixelDecoder, backbone.go) or "msdeform" (Mask2Former's
	// MSDeformAttnPixelDecoder, msdeform.go: the official pixel decoder of
	// Mask2Former and MP-Former). Configs saved before this field existed
	// have none, which means "fpn".
	PixelDecoder string `json:"pixel_decoder"`
	// MSDeform holds the msdeform pixel decoder's encoder settings; the
	// FPN ignores them.
	MSDeform MSDeformConfig `json:"msdeform"`
	// PixelDim is the pixel decoder's width (the FPN's channels; the
	// msdeform decoder's conv_dim and encoder width). Default 64.
	PixelDim int `json:"pixel_dim"`
	// MaskDim is the width of mask features and mask embeddings. Default 64.
	MaskDim int `json:"mask_dim"`
	// GNGroups is the number of GroupNorm groups everywhere. Default 8.
	GNGroups int `json:"gn_groups"`
	// LevelStrides are the strides of the three feature levels the
	// decoder's layers cycle over, coarse to fine; each must be one of the
	// pixel decoder's outputs 32, 16, 8, 4. Default [32, 16, 8] (the
	// official pyramid).
	LevelStrides [3]int `json:"level_strides"`

	// Hidden is the transformer width D. Default 128.
	Hidden int `json:"hidden"`
	// FFN is the feed-forward width. Default 256.
	FFN int `json:"ffn"`
	// Heads is the number of attention heads. Default 8.
	Heads int `json:"heads"`
	// Queries is the number of (matching) queries N. Default 20.
	Queries int `json:"queries"`
	// DecLayers is the number of decoder layers: 9 for Mask2Former (three
	// rounds over the 1/32, 1/16, 1/8 levels), 6 for MaskFormer.
	DecLayers int `json:"dec_layers"`
	// QueryPos gives the matching queries learnable positional embeddings
	// added to q (and k) in every attention, as official Mask2Former does.
	// MP queries never carry one. MP-Former's official code drops them for
	// all queries; a comparison must use the same setting for both models
	// (the experiment specs do). Default true.
	QueryPos bool `json:"query_pos"`

	Loss LossConfig `json:"loss"`
	MP   MPConfig   `json:"mp"`
}

// LossConfig holds the criterion's settings (docs/papers.md#matching,
// docs/papers.md#losses).
type LossConfig struct {
	// ClassWeight, MaskWeight, DiceWeight weigh the cross-entropy, BCE and
	// dice terms of the loss. Defaults 2, 2, 2 — not the official 2, 5, 5:
	// trained from scratch at this scale (no ImageNet backbone), the class
	// loss does not fall at 2, 5, 5 (the masks take all the capacity; see
	// docs/results.md, "Training at this scale", for the runs), while at 2, 2, 2 it does.
	ClassWeight float64 `json:"class_weight"`
	MaskWeight  float64 `json:"mask_weight"`
	DiceWeight  float64 `json:"dice_weight"`
	// MatchClass, MatchMask, MatchDice weigh the Hungarian matching cost
	// (docs/papers.md#matching). Defaults 2, 5, 5, the official values.
	MatchClass float64 `json:"match_class"`
	MatchMask  float64 `json:"match_mask"`
	MatchDice  float64 `json:"match_dice"`
	// NoObjectWeight is the class weight of "no object". Default 0.1.
	NoObjectWeight float64 `json:"no_object_weight"`
	// Points is the number of sampled points for matching and mask losses;
	// 0 (default) uses every pixel of the stride-4 mask against the
	// stride-4 area coverage, which is cheaper than sampling while masks
	// are small (32×32 at the default size). K > 0 is the official path
	// (docs/papers.md#losses): K uniform matching points per stage and
	// image, K importance-sampled loss points per pair, the GT sampled
	// bilinearly from the full-resolution mask; official K = 12544.
	Points int `json:"points"`
	// Oversample and Importance control importance sampling of the loss
	// points (oversample 3, β 0.75, as Mask2Former).
	Oversample float64 `json:"oversample"`
	Importance float64 `json:"importance"`
}

// Pixel decoders (Config.PixelDecoder).
const (
	PixelFPN      = "fpn"
	PixelMSDeform = "msdeform"
)

// MSDeformConfig holds the multi-scale deformable attention encoder of the
// msdeform pixel decoder (official defaults in parentheses). A zero field
// takes its default, so configs saved before these settings existed load.
type MSDeformConfig struct {
	// Layers is the number of encoder layers. Default 6
	// (SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS).
	Layers int `json:"layers"`
	// Heads is the number of attention heads; PixelDim must be divisible
	// by it. Default 8 (MASK_FORMER.NHEADS).
	Heads int `json:"heads"`
	// Points is the number of sampling points per head and level. Default
	// 4 (enc_n_points). The levels are always the three at strides 32, 16
	// and 8.
	Points int `json:"points"`
	// FFN is the encoder's feed-forward width. Default 256, 4× the
	// default PixelDim as the official 1024 is 4× its width of 256 (zero,
	// in configs saved before this field, is read as 4·PixelDim).
	FFN int `json:"ffn"`
}

// MPConfig holds MP-Former's mask-pilot settings (docs/papers.md#mp-former
// and the sections after it; the defaults are the release settings,
// docs/papers.md#mp-release-settings); they are ignored by the other
// architectures.
type MPConfig struct {
	// Groups is the number of MP groups G. Default 1 (the release script).
	Groups int `json:"groups"`
	// PilotLayers is how many decoder layers (the first k) get GT masks as
	// the MP queries' attention masks; later layers use the MP queries' own
	// predictions. Default 0 meaning all layers (ALL_LY_DN=True).
	PilotLayers int `json:"pilot_layers"`
	// Noise is the mask noise: "none" (default), "point", "shift" or
	// "scale", as the official MP decoder draws it (model/mp.go; equal to
	// it on shared draws, model/torchref's TestTorchParity) but for two
	// departures on purpose in shift and scale: the official code swaps x
	// and y (the width-derived shift moves rows; the scale offsets pair
	// rows with the box's x centre), and after the first layer it inverts
	// their pilots (blocks the object, opens the background). mpanalyze
	// uses the intended geometry and the first layer's polarity on every
	// layer (docs/papers.md#mask-noise).
	Noise string `json:"noise"`
	// NoiseRatio is the noise strength ns. Default 0 (release script); the
	// paper reports 0.2 as best for point noise (docs/papers.md#mask-noise).
	NoiseRatio float64 `json:"noise_ratio"`
	// ScaleProb is the probability that "scale" noise enlarges a mask
	// (1 − DN_RATIO in the official code). Default 0.5.
	ScaleProb float64 `json:"scale_prob"`
	// LabelNoise is the probability that an MP query's class embedding is
	// replaced by a uniformly drawn class (the target stays the true
	// label). Default 0.2.
	LabelNoise float64 `json:"label_noise"`
	// NoClassLoss drops the MP queries' classification loss (DN_NO_LB).
	NoClassLoss bool `json:"no_class_loss"`
}

// DefaultConfig returns the default Mask2Former config for K classes.
func DefaultConfig(arch string, numClasses int) Config {
	c := Config{
		Arch:           arch,
		ImageSize:      128,
		NumClasses:     numClasses,
		BackboneWidths: [4]int{32, 64, 96, 128},
		BackboneBlocks: [4]int{1, 1, 1, 1},
		PixelDecoder:   PixelFPN,
		MSDeform:       MSDeformConfig{Layers: 6, Heads: 8, Points: 4, FFN: 4 * 64},
		PixelDim:       64,
		MaskDim:        64,
		GNGroups:       8,
		LevelStrides:   [3]int{32, 16, 8},
		Hidden:         128,
		FFN:            256,
		Heads:          8,
		Queries:        20,
		DecLayers:      9,
		QueryPos:       true,
		Loss: LossConfig{
			ClassWeight: 2, MaskWeight: 2, DiceWeight: 2, NoObjectWeight: 0.1,
			MatchClass: 2, MatchMask: 5, MatchDice: 5,
			Oversample: 3, Importance: 0.75,
		},
		MP: MPConfig{Groups: 1, Noise: "none", ScaleProb: 0.5, LabelNoise: 0.2},
	}
	if arch == ArchMaskFormer {
		c.DecLayers = 6
	}
	return c
}

// withDefaults returns c with the settings added after configs were first
// saved filled in where they are missing: an empty PixelDecoder is "fpn"
// and zero MSDeform fields take their defaults. New and MarshalIndent
// apply it, so an old checkpoint's config and today's default are the
// same config.
func (c Config) withDefaults() Config {
	if c.PixelDecoder == "" {
		c.PixelDecoder = PixelFPN
	}
	ms := &c.MSDeform
	if ms.Layers == 0 {
		ms.Layers = 6
	}
	if ms.Heads == 0 {
		ms.Heads = 8
	}
	if ms.Points == 0 {
		ms.Points = 4
	}
	if ms.FFN == 0 {
		ms.FFN = 4 * c.PixelDim
	}
	return c
}

// Validate reports the first inconsistency of the config: of the
// architecture and widths, the pixel decoder, the levels and backbone, the
// loss weights, then the MP settings.
func (c *Config) Validate() error {
	for _, check := range []func() error{c.validateWidths, c.validatePixelDecoder, c.validateLevels, c.validateLoss, c.validateMP} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateWidths checks the architecture, the image size, the class
// count and names, and the transformer and pixel widths.
func (c *Config) validateWidths() error {
	switch c.Arch {
	case ArchMaskFormer, ArchMask2Former, ArchMPFormer:
	default:
		return fmt.Errorf("model: unknown architecture %q (want maskformer, mask2former or mpformer)", c.Arch)
	}
	switch {
	case c.ImageSize < 32 || c.ImageSize%32 != 0:
		return fmt.Errorf("model: image size %d is not a positive multiple of 32", c.ImageSize)
	case c.NumClasses < 1:
		return fmt.Errorf("model: %d classes", c.NumClasses)
	case c.Hidden <= 0 || c.Heads <= 0 || c.Hidden%c.Heads != 0:
		return fmt.Errorf("model: hidden width %d not divisible by %d heads", c.Hidden, c.Heads)
	case c.Queries <= 0 || c.DecLayers <= 0 || c.FFN <= 0 || c.MaskDim <= 0 || c.PixelDim <= 0:
		return fmt.Errorf("model: queries, layers, ffn, mask and pixel widths must be positive")
	case c.GNGroups <= 0 || c.PixelDim%c.GNGroups != 0:
		return fmt.Errorf("model: pixel width %d not divisible by %d GroupNorm groups", c.PixelDim, c.GNGroups)
	case len(c.ThingClasses) != 0 && len(c.ThingClasses) != c.NumClasses:
		return fmt.Errorf("model: %d thing flags for %d classes", len(c.ThingClasses), c.NumClasses)
	case len(c.ClassNames) != 0 && len(c.ClassNames) != c.NumClasses:
		return fmt.Errorf("model: %d class names for %d classes", len(c.ClassNames), c.NumClasses)
	}
	return nil
}

// validatePixelDecoder checks the pixel decoder's kind and, for
// msdeform, its settings (defaults filled in).
func (c *Config) validatePixelDecoder() error {
	switch d := c.withDefaults(); d.PixelDecoder {
	case PixelFPN:
	case PixelMSDeform:
		ms := d.MSDeform
		if ms.Layers < 0 || ms.Heads < 0 || ms.Points < 0 || ms.FFN < 0 {
			return fmt.Errorf("model: negative msdeform setting in %+v", c.MSDeform)
		}
		if c.PixelDim%ms.Heads != 0 {
			return fmt.Errorf("model: pixel width %d not divisible by %d msdeform heads", c.PixelDim, ms.Heads)
		}
	default:
		return fmt.Errorf("model: unknown pixel decoder %q (want fpn or msdeform)", c.PixelDecoder)
	}
	return nil
}

// validateLevels checks the decoder's level strides (coarse to fine, each
// 32, 16, 8 or 4) and the backbone's stage widths and block counts.
func (c *Config) validateLevels() error {
	for i, st := range c.LevelStrides {
		if st != 32 && st != 16 && st != 8 && st != 4 {
			return fmt.Errorf("model: level stride %d not one of 32, 16, 8, 4", st)
		}
		if i > 0 && st >= c.LevelStrides[i-1] {
			return fmt.Errorf("model: level strides %v not coarse to fine", c.LevelStrides)
		}
	}
	for i, w := range c.BackboneWidths {
		if w <= 0 || w%c.GNGroups != 0 {
			return fmt.Errorf("model: backbone width %d (stage %d) not a positive multiple of %d groups", w, i+1, c.GNGroups)
		}
		if c.BackboneBlocks[i] < 0 {
			return fmt.Errorf("model: negative block count")
		}
	}
	return nil
}

// validateLoss checks the loss's point count and weights.
func (c *Config) validateLoss() error {
	if c.Loss.Points < 0 || c.Loss.NoObjectWeight < 0 {
		return fmt.Errorf("model: negative loss points or weight")
	}
	for _, w := range []struct {
		name string
		v    float64
	}{{"class_weight", c.Loss.ClassWeight}, {"mask_weight", c.Loss.MaskWeight}, {"dice_weight", c.Loss.DiceWeight},
		{"match_class", c.Loss.MatchClass}, {"match_mask", c.Loss.MatchMask}, {"match_dice", c.Loss.MatchDice}} {
		if !(w.v >= 0) || math.IsInf(w.v, 0) {
			return fmt.Errorf("model: loss.%s %g (want a finite weight ≥ 0)", w.name, w.v)
		}
	}
	return nil
}

// validateMP checks MP-Former's settings (nothing for the other
// architectures).
func (c *Config) validateMP() error {
	if c.Arch != ArchMPFormer {
		return nil
	}
	m := c.MP
	switch m.Noise {
	case "none", "point", "shift", "scale":
	default:
		return fmt.Errorf("model: unknown MP noise %q (want none, point, shift or scale)", m.Noise)
	}
	if m.Groups < 1 {
		return fmt.Errorf("model: %d MP groups", m.Groups)
	}
	if m.PilotLayers < 0 || m.PilotLayers > c.DecLayers {
		return fmt.Errorf("model: %d piloted layers of %d", m.PilotLayers, c.DecLayers)
	}
	if m.NoiseRatio < 0 || m.LabelNoise < 0 || m.LabelNoise > 1 || m.ScaleProb < 0 || m.ScaleProb > 1 {
		return fmt.Errorf("model: MP noise ratios out of range")
	}
	if (m.Noise == "shift" || m.Noise == "scale") && m.NoiseRatio == 0 {
		return fmt.Errorf("model: %s noise needs a positive noise ratio", m.Noise)
	}
	return nil
}

// IsThing reports whether class c is a thing class.
func (c *Config) IsThing(class int) bool {
	if len(c.ThingClasses) == 0 {
		return true
	}
	return c.ThingClasses[class]
}

// NumStages is the number of prediction stages the decoder produces:
// layers + 1 for Mask2Former and MP-Former (stage 0 is the prediction on
// the learnable queries), layers for MaskFormer.
func (c *Config) NumStages() int {
	if c.Arch == ArchMaskFormer {
		return c.DecLayers
	}
	return c.DecLayers + 1
}

// StageLayers maps a stage index to the number of decoder layers applied
// before it: 0..L for Mask2Former, 1..L for MaskFormer.
func (c *Config) StageLayers() []int {
	s := make([]int, c.NumStages())
	off := 0
	if c.Arch == ArchMaskFormer {
		off = 1
	}
	for i := range s {
		s[i] = i + off
	}
	return s
}

// MarshalIndent is the config as indented JSON.
func (c *Config) MarshalIndent() []byte {
	b, err := json.MarshalIndent(c.withDefaults(), "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// matchWeights are the Hungarian cost weights.
func (l *LossConfig) matchWeights() matcher.Weights {
	return matcher.Weights{Class: l.MatchClass, Mask: l.MatchMask, Dice: l.MatchDice}
}

// ConfigForDataset is DefaultConfig with the dataset's classes: their
// number, names and thing/stuff kinds.
func ConfigForDataset(arch string, ds data.Dataset) Config {
	cats := ds.Categories()
	c := DefaultConfig(arch, len(cats))
	for _, cat := range cats {
		c.ClassNames = append(c.ClassNames, cat.Name)
		c.ThingClasses = append(c.ThingClasses, cat.IsThing)
	}
	return c
}
