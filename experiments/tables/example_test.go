package tables_test

import (
	"os"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
)

// A runner fills RunScores with FromEvalReport (one per evaluated run) and
// renders the comparison; the values here are made up.
func ExampleAccuracy() {
	runs := []tables.RunScores{
		{Model: "mask2former", Seed: 1, PQ: 0.412, PQThings: 0.45, PQStuff: 0.35, AP: 0.301, AP50: 0.5, AP75: 0.31, MIoU: 0.6},
		{Model: "mask2former", Seed: 2, PQ: 0.428, PQThings: 0.47, PQStuff: 0.36, AP: 0.317, AP50: 0.52, AP75: 0.3, MIoU: 0.61},
		{Model: "mask2former", Seed: 3, PQ: 0.420, PQThings: 0.46, PQStuff: 0.355, AP: 0.309, AP50: 0.51, AP75: 0.305, MIoU: 0.605},
	}
	tab := tables.Accuracy(runs, nil)
	tab.Notes = nil
	_ = tab.Render(os.Stdout, "markdown")
	// Output:
	// **Task metrics**
	//
	// | model       | seeds |         PQ |      PQ th |      PQ st |         AP |       AP50 |       AP75 |       mIoU |
	// |:------------|------:|-----------:|-----------:|-----------:|-----------:|-----------:|-----------:|-----------:|
	// | mask2former |     3 | 42.0 ± 0.8 | 46.0 ± 1.0 | 35.5 ± 0.5 | 30.9 ± 0.8 | 51.0 ± 1.0 | 30.5 ± 0.5 | 60.5 ± 0.5 |
}
