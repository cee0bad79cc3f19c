// Package matcher solves the bipartite matching between a decoder stage's
// queries and an image's ground-truth segments, as Mask2Former's
// HungarianMatcher does.
//
// # Assignment
//
// Assign solves the rectangular linear assignment problem exactly with the
// shortest-augmenting-path (Jonker–Volgenant / Kuhn–Munkres with
// potentials) method in O(n²·m) time for an n×m problem with n ≤ m: it
// pairs min(rows, cols) rows with distinct columns so that the sum of the
// paired costs is minimal. It is the solver scipy's linear_sum_assignment
// implements, up to the choice among equally cheap assignments.
//
// # Cost
//
// Cost builds Mask2Former's matching cost for one image and one stage
// (matcher.py of Mask2Former), for query q and ground-truth segment g:
//
//	C[q][g] = wClass·(−softmax(z_q)[c_g]) + wMask·BCE(q, g) + wDice·Dice(q, g)
//	BCE(q, g)  = (1/P)·Σ_p [softplus(x_qp) − x_qp·t_gp]
//	Dice(q, g) = 1 − (2·Σ_p σ(x_qp)·t_gp + 1) / (Σ_p σ(x_qp) + Σ_p t_gp + 1)
//
// where z_q are the K+1 class logits (the last is "no object"), x_qp the
// mask logits at P shared points or pixels, t_gp ∈ [0, 1] the target values
// at the same points, and softplus(x) = max(x, 0) + log(1 + exp(−|x|)) the
// stable form of log(1 + eˣ). softplus(x) − x·t equals the binary cross
// entropy with logits t·softplus(−x) + (1−t)·softplus(x). The default weights
// are 2, 5, 5 (CLASS_WEIGHT, MASK_WEIGHT, DICE_WEIGHT). Accumulations are in
// float64.
//
// # Conventions
//
// Cost matrices are row-major []float64 with rows = queries (predictions)
// and cols = ground-truth segments. A matching is returned as gtToQuery:
// one entry per GT segment, the query index or −1 when there are fewer
// queries than segments. Mismatched lengths and non-finite costs are
// programmer errors and panic with a "matcher:" prefix.
package matcher // import "github.com/mpanalyze/mpanalyze/matcher"
