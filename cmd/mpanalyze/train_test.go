package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/run"
)

// TestTrainFlagsMapped fails when train gains a flag that is neither
// mapped to the run.json keys it sets (configFlags, checked on --resume)
// nor listed as outside the config, or when a mapped key is not in
// run.json.
func TestTrainFlagsMapped(t *testing.T) {
	var out bytes.Buffer
	cmd := newTrainCmd(&streams{In: strings.NewReader(""), Out: &out, Err: &out})
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		_, mapped := configFlags[f.Name]
		if mapped == slices.Contains(otherFlags, f.Name) {
			t.Errorf("--%s: want it in exactly one of configFlags and otherFlags", f.Name)
		}
	})
	for name := range configFlags {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("configFlags maps --%s, which train does not have", name)
		}
	}
	// Every key exists in a config whose optional fields are all set.
	rc, err := run.DefaultConfig("mpformer", 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	full := data.Spec{Kind: "coco", Split: "train", Seed: 3, Size: 64, N: 5, Annotations: "a", Images: "i", PanopticPNGs: "p", SkipInvalid: true, MaxThings: 2, ShapeOnly: true}
	rc.Data, rc.Val = full, full
	for name, keys := range configFlags {
		for _, k := range keys {
			if jsonAt(&rc, k) == "null" {
				t.Errorf("--%s: run.json has no key %s", name, k)
			}
		}
	}
}
