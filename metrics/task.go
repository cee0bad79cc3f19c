package metrics

// EvalReport holds the task scores of one evaluation of a model on a
// dataset: panoptic quality, COCO mask AP of the thing classes and mIoU,
// all fractions.
type EvalReport struct {
	Images   int            `json:"images"`
	Panoptic PanopticReport `json:"panoptic"`
	Instance InstanceReport `json:"instance"`
	Semantic SemanticReport `json:"semantic"`
	// Seconds is the wall time of the evaluation (inference included).
	Seconds float64 `json:"seconds"`
}
