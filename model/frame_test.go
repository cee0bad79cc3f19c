package model

import (
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

// TestInFrame maps an S = 8 prediction to a 3×5 image (the frame of
// data.TestLetterboxFrameHandComputed: image column x ← model column
// [0 2 4 5 7][x], row y ← model row [0 2 4][y]). Segment 1 covers model
// column 1 only, which no image column takes: it vanishes and is dropped.
// Segment 2 covers model columns 4..7 of rows 0..4: image columns 2..4 of
// all 3 rows, area 9.
func TestInFrame(t *testing.T) {
	const S = 8
	p := &Prediction{Size: S, H: S, W: S, Semantic: make([]int32, S*S), Panoptic: make([]int32, S*S),
		Segments: []Segment{{ID: 1, Class: 0, Area: 8}, {ID: 2, Class: 1, Area: 20}}}
	det := mask.New(S, S)
	for y := 0; y < S; y++ {
		for x := 0; x < S; x++ {
			i := y*S + x
			switch {
			case x == 1:
				p.Panoptic[i], p.Semantic[i] = 1, 0
			case x >= 4 && y < 5:
				p.Panoptic[i], p.Semantic[i] = 2, 1
				det.Set(i, true)
			}
		}
	}
	p.Detections = []Detection{{Class: 1, Score: 0.5, Mask: det}}
	f := data.LetterboxFrame(3, 5, S)
	o := p.InFrame(f)
	if o.H != 3 || o.W != 5 || len(o.Panoptic) != 15 || len(o.Semantic) != 15 {
		t.Fatalf("size %d×%d, %d/%d pixels", o.H, o.W, len(o.Panoptic), len(o.Semantic))
	}
	if len(o.Segments) != 1 || o.Segments[0].ID != 2 || o.Segments[0].Area != 9 {
		t.Fatalf("segments %+v, want only id 2 with area 9", o.Segments)
	}
	for i, id := range o.Panoptic {
		want := int32(0)
		if i%5 >= 2 {
			want = 2
		}
		if id != want || o.Detections[0].Mask.Get(i) != (want == 2) || o.Semantic[i] != map[int32]int32{0: 0, 2: 1}[want] {
			t.Fatalf("pixel %d: id %d, want %d", i, id, want)
		}
	}
	if p.Detections[0].Mask.H != S {
		t.Fatal("InFrame changed its input")
	}
}
