package matcher_test

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/matcher"
)

func ExampleAssign() {
	// 3 queries × 2 GT segments: query 1 is cheapest for GT 0 and query 2
	// for GT 1; query 0 stays unmatched.
	cost := []float64{
		0.9, 0.8,
		0.1, 0.7,
		0.6, 0.2,
	}
	rowToCol := matcher.Assign(cost, 3, 2)
	fmt.Println(rowToCol, matcher.Invert(rowToCol, 2), matcher.TotalCost(cost, 2, rowToCol))
	// Output: [-1 0 1] [1 2] 0.30000000000000004
}

func ExampleMatch() {
	// One class (K = 1), 4 pixels, 2 queries, 1 GT segment of class 0 on
	// pixels 0 and 1. Query 1 predicts it; query 0 predicts the other half.
	classLogits := []float32{
		2, 0, // query 0
		2, 0, // query 1
	}
	maskLogits := []float32{
		-5, -5, 5, 5, // query 0
		5, 5, -5, -5, // query 1
	}
	targets := []float32{1, 1, 0, 0}
	gtToQuery := matcher.Match(classLogits, maskLogits, targets, []int{0}, 2, 1, 4, nil)
	fmt.Println(gtToQuery)
	// Output: [1]
}
