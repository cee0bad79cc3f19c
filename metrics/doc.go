// Package metrics measures Mask2Former-style decoders: how consistent a
// query's mask is from one decoder stage to the next, how well queries are
// used, what the masked attention lets each query see, and the final task
// scores (semantic mIoU, COCO mask AP, panoptic PQ).
//
// The package is pure: functions take plain data (bit-packed masks from
// the mask package, label maps, scores) and return numbers. It does no file I/O and
// no logging, and it does not import the model or probe packages; callers
// convert what the probes record into the input types below.
//
// # Stage indexing
//
// A Mask2Former-style decoder with L layers predicts at S = L+1 stages.
// Stage 0 is the prediction of the heads on the learnable queries before the
// first layer; stage s ≥ 1 is the prediction after layer s. A 9-layer
// Mask2Former has stages 0..9 and its last stage is S−1 = 9. MaskFormer has
// no prediction on the learnable queries: its S = L stages follow layers
// 1..L (probes.RunInfo.StageLayers records the layers before each stage, and
// tables line stages up by it). Functions here index stages 0..S−1 whatever
// the model. Per-stage-pair results
// (consecutive IoU, matching changes) have S−1 entries, entry s comparing
// stages s and s+1; per-stage results (IoU to the last stage, utilisation)
// have S entries. The attention mask recorded at stage s is the one layer
// s+1 uses; the last stage has none.
//
// # Binarisation and resolution
//
// A query's binary mask is B = [logit > 0], which is sigmoid(logit) > 0.5,
// the decoder's own rule, taken at the resolution of the mask logits
// (stride 4 with respect to the input). FromLogits and StageMasks do this.
// Ground-truth masks for the stage metrics must be at the same resolution
// (probes.GroundTruth holds them so: pixels with area coverage ≥ 0.5).
//
// # Empty masks
//
// The stage metrics use
//
//	IoU(A, B) = |A ∧ B| / |A ∨ B|,   IoU(∅, ∅) = 1,
//
// so a query whose mask stays empty is counted as consistent. The query set
// NonEmpty skips pairs where both masks are empty (by its definition); the
// sets FinalMatched and StageMatched, and Util-B and Util-C, keep them with
// IoU 1. The task metrics follow their references instead: in mask AP the
// IoU with an empty mask is 0 (pycocotools), and panoptic segments are
// non-empty by construction.
//
// # Queries, ground truth and the MP split
//
// During MP-Former training the decoder carries MP (mask-pilot) query rows
// before the matching queries. Every metric here uses the matching queries
// only, indexed 0..Q−1 as the matchings index them, unless it says
// otherwise (AttentionStats reports MP rows separately). StageMasks drops the
// MP rows. A matching σ_s maps each GT segment g to a query σ_s(g) or −1
// (more segments than queries), and maps no two segments to one query.
//
// The query sets of the consistency metrics, for a comparison of stage s
// with stage t (t = s+1, or t = S−1 for IoU-to-final):
//
//	FinalMatched  {σ_{S−1}(g) : g a GT segment, σ_{S−1}(g) ≠ −1}   (primary)
//	NonEmpty      {q : B_q^s ≠ ∅ or B_q^t ≠ ∅}
//	StageMatched  {σ_s(g) : σ_s(g) ≠ −1}
//
// Utilisation and matching change count GT segments: Util-A/B/C over the
// segments matched at the last stage, the matching change over all segments:
//
//	Util-A(s) = |{g : σ_s(g) = σ_{S−1}(g) ≠ −1}| / |{g : σ_{S−1}(g) ≠ −1}|
//	Util-B(s) = |{q = σ_{S−1}(g) : IoU(B_q^s, B_q^{S−1}) ≥ 0.5}| / |{g : σ_{S−1}(g) ≠ −1}|
//	Util-C(s) = |{g : q = σ_{S−1}(g), IoU(B_q^s, GT_g) ≥ 0.5}| / |{g : σ_{S−1}(g) ≠ −1}|
//	change(s) = |{g : σ_s(g) ≠ σ_{s+1}(g)}| / G
//
// Util-A and Util-B are 1 at the last stage by definition.
//
// # Summary
//
// Summarize reduces a run to two numbers, the ones the verdict compares:
// the mean consecutive IoU over the stage pairs 0→1 … (S−2)→(S−1), and the
// mean Util-A over the stages 0 … S−2 — the last stage is left out because
// its Util-A is 1 for every model.
//
// # Averaging
//
// A per-image function returns, per entry, a Mean: the sum of the values and
// their count. Evaluators pool them: Curve.Mean is the mean over all
// (image, query) or (image, segment) pairs of the dataset, Σ sums / Σ counts
// (the primary figure); Curve.ImageMean is the mean over images of the
// per-image means, images with no pair at that entry left out. Curve.N and
// Curve.Images give both denominators. An entry with no pair is NaN, which
// Series encodes as JSON null.
//
// # Task metrics
//
// SemanticEvaluator accumulates a confusion matrix; mIoU averages
// TP/(TP+FP+FN) over the classes present in the GT or the prediction, void
// pixels excluded (MIoUGT gives detectron2's variant, over classes with GT
// pixels). InstanceEvaluator reproduces pycocotools' COCOeval for masks
// (AP over IoU .50:.05:.95, AP50, AP75, APs/APm/APl by GT area, AR; crowd
// handling; 101-point interpolated precision with the monotone envelope; at
// most MaxDets detections per image and category) keeping only scores and
// match flags. PanopticEvaluator reproduces panopticapi's pq_compute from
// per-pixel id maps. Their documentation lists the known differences.
//
// # Fractions
//
// Every score is a fraction in [0, 1] (IoU, utilisation, AP, PQ, mIoU).
// Multiply by 100 only when printing, and label it as percent.
//
// # Errors
//
// Inconsistent inputs (mask sizes, stage or query counts, out-of-range
// indices, duplicate matches) are programmer errors: functions panic with a
// "metrics:" prefix. Nothing here returns an error.
package metrics // import "github.com/mpanalyze/mpanalyze/metrics"
