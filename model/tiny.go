package model

// TinyConfig is DefaultConfig shrunk until a training step takes
// milliseconds: 64×64 input, narrow backbone and pixel decoder, width 32,
// 4 heads, 8 queries. Tests, examples and smoke runs use it; its numbers
// mean nothing about the full-size model.
func TinyConfig(arch string, numClasses int) Config {
	c := DefaultConfig(arch, numClasses)
	c.ImageSize = 64
	c.BackboneWidths = [4]int{16, 16, 32, 32}
	c.PixelDim, c.MaskDim = 32, 32
	c.Hidden, c.FFN, c.Heads, c.Queries = 32, 64, 4, 8
	return c
}
