package model

import "github.com/mpanalyze/mpanalyze/matcher"

// matchStage is the Hungarian matching of one stage's matching queries
// (class logits N×(K+1), mask logits N×P) to the GT (targets G×P) under the
// config's matching cost: the query of each GT segment, or −1.
func (m *Model) matchStage(cls, msk, targets []float32, classes []int, P int) []int {
	c := &m.Cfg
	w := c.Loss.matchWeights()
	return matcher.Match(cls, msk, targets, classes, c.Queries, c.NumClasses, P, &w)
}

// StageMatches returns the Hungarian matching of every stage's matching
// queries to ex's ground truth, matches[s][g] = the query of GT segment g
// at stage s or −1, with the training cost (Loss.MatchClass/MatchMask/
// MatchDice) on every stride-4 pixel against the soft coverage targets
// ex.Cover4. It is the matching the criterion uses when Loss.Points is 0,
// and the one the probes record; MP rows, when present, are left out. It
// returns nil when the image has no GT segment.
func (m *Model) StageMatches(stages []StageOutput, ex *Example) [][]int {
	if len(ex.Classes) == 0 {
		return nil
	}
	c := &m.Cfg
	P4 := m.h4 * m.w4
	cls, msk := make([][]float32, len(stages)), make([][]float32, len(stages))
	for s, st := range stages {
		P := st.ClassLogits.Dim(0) - c.Queries // MP rows come first
		cls[s] = st.ClassLogits.Data[P*(c.NumClasses+1):]
		msk[s] = st.MaskLogits.Data[P*P4:]
	}
	w := c.Loss.matchWeights()
	// the function the trace reader recomputes matchings with
	return matcher.MatchStages(cls, msk, matcher.CoverTargets(ex.Cover4, P4), ex.Classes, c.Queries, c.NumClasses, P4, &w)
}
