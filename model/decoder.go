package model

import (
	"fmt"
	"slices"

	"github.com/mpanalyze/mpanalyze/model/engine"
)

// attnBlock is nn.MultiheadAttention with its in_proj split into q, k, v.
type attnBlock struct{ q, k, v, o linear }

func newAttn(ps *params, name string, d int) attnBlock {
	return attnBlock{
		q: newLinear(ps, name+".q_proj", d, d, initXavierQKV),
		k: newLinear(ps, name+".k_proj", d, d, initXavierQKV),
		v: newLinear(ps, name+".v_proj", d, d, initXavierQKV),
		o: newLinear(ps, name+".out_proj", d, d, initXavier),
	}
}

func (a attnBlock) weights(g *Graph) engine.AttnWeights[float32] {
	return engine.AttnWeights[float32]{
		Wq: g.Param(a.q.W), Bq: g.Param(a.q.B), Wk: g.Param(a.k.W), Bk: g.Param(a.k.B),
		Wv: g.Param(a.v.W), Bv: g.Param(a.v.B), Wo: g.Param(a.o.W), Bo: g.Param(a.o.B),
	}
}

// decoderLayer is one transformer decoder layer with post-norm residual
// sub-blocks (dropout 0): cross-attention, self-attention and FFN. They
// run on a batch of images: tgt [N, R, D], qpos [R, D] (shared) or nil,
// mem [N, h·w, D], memPos [h·w, D], and masks with one attention mask per
// image (or nil for none).
type decoderLayer struct {
	cross, self                  attnBlock
	crossNorm, selfNorm, ffnNorm norm
	ffn1, ffn2                   linear
}

func newDecoderLayer(ps *params, name string, c *Config) decoderLayer {
	return decoderLayer{
		cross:     newAttn(ps, name+".cross_attn", c.Hidden),
		crossNorm: newNorm(ps, name+".cross_norm", c.Hidden, 0),
		self:      newAttn(ps, name+".self_attn", c.Hidden),
		selfNorm:  newNorm(ps, name+".self_norm", c.Hidden, 0),
		ffn1:      newLinear(ps, name+".ffn.linear1", c.Hidden, c.FFN, initXavier),
		ffn2:      newLinear(ps, name+".ffn.linear2", c.FFN, c.Hidden, initXavier),
		ffnNorm:   newNorm(ps, name+".ffn_norm", c.Hidden, 0),
	}
}

func (l *decoderLayer) crossAttn(g *Graph, c *Config, tgt, qpos, mem, memPos *Tensor, masks [][]bool) *Tensor {
	x := g.AttentionBatch(tgt, mem, mem, qpos, memPos, l.cross.weights(g), c.Heads, masks)
	return l.crossNorm.fwd(g, g.Add(tgt, x))
}

func (l *decoderLayer) selfAttn(g *Graph, c *Config, tgt, qpos *Tensor, masks [][]bool) *Tensor {
	x := g.AttentionBatch(tgt, tgt, tgt, qpos, qpos, l.self.weights(g), c.Heads, masks)
	return l.selfNorm.fwd(g, g.Add(tgt, x))
}

func (l *decoderLayer) ffn(g *Graph, tgt *Tensor) *Tensor {
	x := l.ffn2.fwd(g, g.ReLU(l.ffn1.fwd(g, tgt)))
	return l.ffnNorm.fwd(g, g.Add(tgt, x))
}

// heads are the prediction heads shared by all stages: the decoder norm,
// the class head (K+1 logits) and the 3-layer mask MLP whose embedding is
// dotted with the stride-4 mask features.
type heads struct {
	norm  norm
	class linear
	mask  mlp
}

func newHeads(ps *params, c *Config) heads {
	return heads{
		norm:  newNorm(ps, "decoder.decoder_norm", c.Hidden, 0),
		class: newLinear(ps, "decoder.class_embed", c.Hidden, c.NumClasses+1, initTorch),
		mask:  newMLP(ps, "decoder.mask_embed", c.Hidden, c.Hidden, c.MaskDim, 3),
	}
}

// predict returns class logits [N, Q, K+1] and mask logits [N, Q, H4·W4]
// for the queries tgt [N, Q, D] of N images and their mask features [N,
// MaskDim, H4·W4].
func (h heads) predict(g *Graph, tgt, maskFeat *Tensor) (cls, masks *Tensor) {
	x := h.norm.fwd(g, tgt)
	cls = h.class.fwd(g, x)
	emb := h.mask.fwd(g, x)
	masks = g.BatchedMatMul(emb, maskFeat, false, false, 1)
	return cls, masks
}

// stageOutputs appends one stage, predicted for a batch of images, to
// each image's stages: image j's outputs are item j of the batch's
// (engine.BatchItem, sharing data and gradient buffers).
func stageOutputs(g *Graph, stages [][]StageOutput, cls, masks *Tensor) {
	for j := range stages {
		stages[j] = append(stages[j], StageOutput{ClassLogits: g.BatchItem(cls, j), MaskLogits: g.BatchItem(masks, j)})
	}
}

// StageOutput is one prediction stage of one image.
type StageOutput struct {
	// ClassLogits [Q, K+1] and MaskLogits [Q, H4·W4] cover all rows: the
	// MP rows first (training only), then the matching queries.
	ClassLogits, MaskLogits *Tensor
	// AttnMask is the cross-attention mask of the next layer (rows × AttnH·
	// AttnW, true = blocked) after unblocking, and Unblocked marks the rows
	// that were fully blocked. Nil for the last stage and for MaskFormer.
	AttnMask     []bool
	Unblocked    []bool
	AttnH, AttnW int
}

// maskedDecoder is Mask2Former's transformer decoder (with MP-Former's MP
// part during training).
type maskedDecoder struct {
	cfg        *Config
	inputProj  [3]*linear
	levelEmbed *Param
	queryFeat  *Param
	queryEmbed *Param // nil without QueryPos
	labelEnc   *Param // MP class embeddings; nil unless mpformer
	layers     []decoderLayer
	heads      heads
}

func newMaskedDecoder(ps *params, c *Config) *maskedDecoder {
	d := &maskedDecoder{cfg: c}
	if c.PixelDim != c.Hidden {
		for i := range d.inputProj {
			l := newLinear(ps, fmt.Sprintf("decoder.input_proj.%d", i), c.PixelDim, c.Hidden, initC2Xavier)
			d.inputProj[i] = &l
		}
	}
	d.levelEmbed = newEmbedding(ps, "decoder.level_embed", 3, c.Hidden)
	d.queryFeat = newEmbedding(ps, "decoder.query_feat", c.Queries, c.Hidden)
	if c.QueryPos {
		d.queryEmbed = newEmbedding(ps, "decoder.query_embed", c.Queries, c.Hidden)
	}
	if c.Arch == ArchMPFormer {
		d.labelEnc = newEmbedding(ps, "decoder.label_enc", c.NumClasses, c.Hidden)
	}
	for i := 0; i < c.DecLayers; i++ {
		d.layers = append(d.layers, newDecoderLayer(ps, fmt.Sprintf("decoder.layers.%d", i), c))
	}
	d.heads = newHeads(ps, c)
	return d
}

// memory is one feature level of a batch of images as the decoder sees it.
type memory struct {
	tokens *Tensor // [N, h·w, D]
	pos    *Tensor // [h·w, D], the same for every image
	h, w   int
}

// levelMemory flattens a level [N, C, h, w] to tokens [N, h·w, D]: input
// projection (when C ≠ D) plus the learnable level embedding, and the fixed
// sine positional encoding.
func levelMemory(g *Graph, c *Config, proj *linear, levelEmbed *Param, lvl int, feat *Tensor) memory {
	N, C, h, w := feat.Dim(0), feat.Dim(1), feat.Dim(2), feat.Dim(3)
	tok := g.Permute(g.Reshape(feat, N, C, h*w), 0, 2, 1)
	if proj != nil {
		tok = proj.fwd(g, tok)
	}
	if levelEmbed != nil {
		tok = g.Add(tok, g.Slice(g.Param(levelEmbed), 0, lvl, lvl+1))
	}
	return memory{tokens: tok, pos: g.Const(sinePosShared(h, w, c.Hidden), h*w, c.Hidden), h: h, w: w}
}

// mpInput is the MP part of one image for one training step (see mp.go).
type mpInput struct {
	// labels are the (noised) input classes of the P MP slots; −1 marks a
	// padding slot (zero content, target "no object").
	labels []int
	// pilots[i] are the MP rows' cross-attention masks for layer i
	// (P × h·w, true = blocked), or nil when layer i is not piloted and the
	// MP queries use their own previous predictions.
	pilots [][]bool
	// selfMask is the (P+N)×(P+N) self-attention mask isolating the
	// matching queries from the MP part and the MP groups from each other.
	selfMask []bool
}

// numMP is the number of MP rows (0 without MP).
func (m *mpInput) numMP() int {
	if m == nil {
		return 0
	}
	return len(m.labels)
}

// forward runs the decoder on a batch of N images and returns each
// image's stages 0..L. maskFeat is [N, MaskDim, H4, W4]; levels are
// strides 32, 16, 8, each [N, C, h, w]; mps holds each image's MP part
// (all nil, or all with the same number of MP rows). The images go
// through the layers in lockstep as rows of one batch (queries [N, R, D]),
// so every projection runs once per layer on the whole batch; attention
// and the mask products run image by image. An image's outputs have the
// bits it gets alone; the weights' gradients are sums over the batch's
// rows (see engine.AttentionBatch).
func (d *maskedDecoder) forward(g *Graph, maskFeat *Tensor, levels [3]*Tensor, mps []*mpInput) [][]StageOutput {
	c := d.cfg
	N, h4, w4 := maskFeat.Dim(0), maskFeat.Dim(2), maskFeat.Dim(3)
	mf := g.Reuse(g.Reshape(maskFeat, N, c.MaskDim, h4*w4)) // every stage multiplies it
	var mems [3]memory
	for i := range mems {
		mems[i] = levelMemory(g, c, d.inputProj[i], d.levelEmbed, i, levels[i])
	}
	P := mps[0].numMP()
	for _, mp := range mps {
		if mp.numMP() != P {
			panic(fmt.Sprintf("model: images with %d and %d MP rows in one batch", P, mp.numMP()))
		}
	}
	qf := g.Param(d.queryFeat)
	var qpos *Tensor
	if d.queryEmbed != nil {
		qpos = g.Param(d.queryEmbed)
	}
	var tgt *Tensor
	var selfMasks [][]bool
	if P > 0 {
		parts := make([]*Tensor, 0, 2*N)
		selfMasks = make([][]bool, N)
		for j, mp := range mps {
			parts = append(parts, d.mpContent(g, mp.labels), qf)
			selfMasks[j] = mp.selfMask
		}
		tgt = g.Concat(0, parts...)
		if qpos != nil {
			qpos = g.Concat(0, g.Zeros(P, c.Hidden), qpos)
		}
	} else {
		tgt = qf
		if N > 1 {
			tgt = g.Concat(0, slices.Repeat([]*Tensor{qf}, N)...)
		}
	}
	// a view, not a Reshape: one image's queries then get their gradients
	// as the unbatched [R, D] tensor did (Reshape would sum them apart
	// and add the sum)
	R := P + c.Queries
	tgt = g.View(tgt, N, R, c.Hidden)
	stages := make([][]StageOutput, N)
	for j := range stages {
		stages[j] = make([]StageOutput, 0, c.DecLayers+1)
	}
	cls, masks := d.heads.predict(g, tgt, mf)
	stageOutputs(g, stages, cls, masks)
	cross := make([][]bool, N)
	for i, layer := range d.layers {
		mem := mems[i%3]
		for j, st := range stages {
			prev := &st[len(st)-1]
			var pilot []bool
			if P > 0 {
				pilot = mps[j].pilots[i]
			}
			prev.AttnMask, prev.Unblocked = attentionMask(prev.MaskLogits.Data, h4, w4, mem.h, mem.w, pilot, P, g.Scratch(R*mem.h*mem.w))
			prev.AttnH, prev.AttnW = mem.h, mem.w
			cross[j] = prev.AttnMask
		}
		tgt = layer.crossAttn(g, c, tgt, qpos, mem.tokens, mem.pos, cross)
		tgt = layer.selfAttn(g, c, tgt, qpos, selfMasks)
		tgt = layer.ffn(g, tgt)
		cls, masks = d.heads.predict(g, tgt, mf)
		stageOutputs(g, stages, cls, masks)
	}
	return stages
}

// mpContent returns the MP queries' content: the class embedding of each
// slot's input label, zero for padding slots.
func (d *maskedDecoder) mpContent(g *Graph, labels []int) *Tensor {
	ids := make([]int, len(labels))
	keep := make([]float32, len(labels))
	for i, l := range labels {
		if l >= 0 {
			ids[i], keep[i] = l, 1
		}
	}
	emb := g.Embedding(g.Param(d.labelEnc), ids)
	return g.Mul(emb, g.Const(keep, len(labels), 1))
}

// attentionMask builds the cross-attention mask of the next layer from the
// current stage's mask logits [Q, h4·w4] (Mask2Former,
// docs/papers.md#masked-attention): the
// logits are resized bilinearly (align_corners=False) to the level's h×w
// and a location is blocked where sigmoid < 0.5, i.e. logit < 0. When
// pilot is given, its P rows replace the first P rows (MP-Former's GT
// masks). Finally every row that is entirely blocked is unblocked. No
// gradient flows through the mask. scratch holds at least Q·h·w floats
// for the resized logits: memory the graph reuses from step to step (with
// a fresh allocation per call the resize took 2.4 ms of a 96 px
// Mask2Former step instead of 0.65 ms).
func attentionMask(logits []float32, h4, w4, h, w int, pilot []bool, P int, scratch []float32) (blocked, unblocked []bool) {
	Q := len(logits) / (h4 * w4)
	hw := h * w
	blocked = make([]bool, Q*hw)
	from := 0 // the pilots replace the first P rows: those are not resized
	if pilot != nil {
		copy(blocked[:P*hw], pilot)
		from = P
	}
	resized := scratch[:(Q-from)*hw]
	engine.BilinearResize(resized, logits[from*h4*w4:], Q-from, h4, w4, h, w)
	for i, v := range resized {
		blocked[from*hw+i] = v < 0
	}
	unblocked = make([]bool, Q)
	for q := 0; q < Q; q++ {
		row := blocked[q*hw : (q+1)*hw]
		all := true
		for _, b := range row {
			if !b {
				all = false
				break
			}
		}
		if all {
			clear(row)
			unblocked[q] = true
		}
	}
	return blocked, unblocked
}

// plainDecoder is MaskFormer's DETR-style decoder: zero-initialised query
// content with learnable query positional embeddings, self-attention →
// plain cross-attention on the stride-32 level → FFN (post-norm), every
// layer's output through the shared heads and supervised.
type plainDecoder struct {
	cfg        *Config
	inputProj  *linear
	queryEmbed *Param
	layers     []decoderLayer
	heads      heads
}

func newPlainDecoder(ps *params, c *Config) *plainDecoder {
	d := &plainDecoder{cfg: c}
	if c.PixelDim != c.Hidden {
		l := newLinear(ps, "decoder.input_proj", c.PixelDim, c.Hidden, initC2Xavier)
		d.inputProj = &l
	}
	d.queryEmbed = newEmbedding(ps, "decoder.query_embed", c.Queries, c.Hidden)
	for i := 0; i < c.DecLayers; i++ {
		d.layers = append(d.layers, newDecoderLayer(ps, fmt.Sprintf("decoder.layers.%d", i), c))
	}
	d.heads = newHeads(ps, c)
	return d
}

// forward runs the decoder on a batch of images as maskedDecoder.forward
// does.
func (d *plainDecoder) forward(g *Graph, maskFeat *Tensor, levels [3]*Tensor) [][]StageOutput {
	c := d.cfg
	N, h4, w4 := maskFeat.Dim(0), maskFeat.Dim(2), maskFeat.Dim(3)
	mf := g.Reuse(g.Reshape(maskFeat, N, c.MaskDim, h4*w4)) // every stage multiplies it
	mem := levelMemory(g, c, d.inputProj, nil, 0, levels[0])
	qpos := g.Param(d.queryEmbed)
	tgt := g.Zeros(N, c.Queries, c.Hidden)
	stages := make([][]StageOutput, N)
	for j := range stages {
		stages[j] = make([]StageOutput, 0, c.DecLayers)
	}
	for _, layer := range d.layers {
		tgt = layer.selfAttn(g, c, tgt, qpos, nil)
		tgt = layer.crossAttn(g, c, tgt, qpos, mem.tokens, mem.pos, nil)
		tgt = layer.ffn(g, tgt)
		cls, masks := d.heads.predict(g, tgt, mf)
		stageOutputs(g, stages, cls, masks)
	}
	return stages
}
