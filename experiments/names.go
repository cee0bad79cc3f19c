package experiments

import (
	"fmt"
	"strings"
)

// DisplayName is how figures, the summary and the report name a
// configuration by default: the papers' names of the built-in
// architectures ("mask2former" → "Mask2Former", "mpformer" → "MP-Former",
// "maskformer" → "MaskFormer"), else the label itself.
func DisplayName(label string) string {
	switch label {
	case "mask2former":
		return "Mask2Former"
	case "mpformer":
		return "MP-Former"
	case "maskformer":
		return "MaskFormer"
	}
	return label
}

// Name is how the figures name a configuration: s.Labels[label] when
// set, else DisplayName(label).
func (s *PlotSettings) Name(label string) string {
	if s != nil {
		if n, ok := s.Labels[label]; ok {
			return n
		}
	}
	return DisplayName(label)
}

// ParseLabels reads display names given as "key=Name" (as `plot --label`
// takes them): the key is a configuration's label, the name any non-empty
// text. It returns an error naming the first malformed or repeated entry.
func ParseLabels(entries []string) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range entries {
		k, v, ok := strings.Cut(e, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || k == "" || v == "":
			return nil, fmt.Errorf("%q: want key=Name, e.g. mpformer=MP-Former", e)
		case out[k] != "":
			return nil, fmt.Errorf("%q: %s is named twice", e, k)
		}
		out[k] = v
	}
	return out, nil
}

// checkLabels returns an error when a key of labels or the baseline is
// not a configuration of the results.
func (rs *Results) checkLabels(s *PlotSettings) error {
	have := rs.Labels()
	known := map[string]bool{}
	for _, l := range have {
		known[l] = true
	}
	for k := range s.Labels {
		if !known[k] {
			return fmt.Errorf("experiments: label %s: no such configuration (have %s)", k, strings.Join(have, ", "))
		}
	}
	if s.Baseline != "" && !known[s.Baseline] {
		return fmt.Errorf("experiments: baseline %s: no such configuration (have %s)", s.Baseline, strings.Join(have, ", "))
	}
	return nil
}
