package model

import (
	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

// InFrame maps a prediction made at the model's S×S input back to the
// image's own H×W frame f (f.S must be p.Size), with data.Frame's inverse:
// every image pixel takes the value of the model pixel that carries it
// (nearest neighbour; see data/frame.go). Detection masks, the panoptic
// map and the semantic map are mapped; segment areas are recounted, and a
// segment left without a pixel (a tiny one, when the image is larger than
// S) is dropped. Pixels outside the window (only with training
// augmentation) are void in the panoptic map and class 0 in the semantic
// map. The result has H, W of the image and Size S.
func (p *Prediction) InFrame(f data.Frame) *Prediction {
	if f.H == f.S && f.W == f.S && f.SW == f.S && f.SH == f.S && f.OffX == 0 && f.OffY == 0 && !f.Flip {
		// The identity: the image is S×S.
		out := *p
		out.H, out.W = f.H, f.W
		return &out
	}
	out := &Prediction{Size: p.Size, H: f.H, W: f.W,
		Semantic: f.IDsToImage(p.Semantic, 0),
		Panoptic: f.IDsToImage(p.Panoptic, 0)}
	ms := make([]*mask.Bits, len(p.Detections))
	for k, d := range p.Detections {
		ms[k] = d.Mask
	}
	mapped := f.MasksToImage(ms)
	for k, d := range p.Detections {
		d.Mask = mapped[k]
		out.Detections = append(out.Detections, d)
	}
	area := map[int32]int{}
	lastID, n := int32(0), 0
	for _, id := range out.Panoptic {
		if id != lastID {
			if lastID != 0 {
				area[lastID] += n
			}
			lastID, n = id, 0
		}
		n++
	}
	if lastID != 0 {
		area[lastID] += n
	}
	for _, sg := range p.Segments {
		if sg.Area = area[int32(sg.ID)]; sg.Area > 0 {
			out.Segments = append(out.Segments, sg)
		}
	}
	return out
}
