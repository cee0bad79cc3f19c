package coco_test

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/data/coco"
	"github.com/mpanalyze/mpanalyze/mask"
)

// A 2×3 mask with the pixels (y=0, x=1) and (y=1, x=1) set: column 1 in
// COCO's column-major order is positions 2 and 3, so the runs are 2 zeros,
// 2 ones, 2 zeros.
func ExampleEncodeRLE() {
	m := mask.New(2, 3)
	m.Set(0*3+1, true)
	m.Set(1*3+1, true)
	r := coco.EncodeRLE(m)
	fmt.Println(r.Counts, r.String(), r.Area())

	back, _ := coco.ParseCompressed(2, 3, r.String())
	d, _ := coco.DecodeRLE(back)
	fmt.Println(mask.Equal(d, m))
	// Output:
	// [2 2 2] 222 2
	// true
}
