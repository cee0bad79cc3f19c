package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/experiments"
)

// compareFixture is a finished tiny experiment (2 points × 2 seeds, the
// tiny spec) without its checkpoints and traces; -update
// trains it again.
const compareFixture = "testdata/compare/tiny"

func ensureCompareFixture(t *testing.T) {
	t.Helper()
	if !*update {
		return
	}
	if err := os.RemoveAll(compareFixture); err != nil {
		t.Fatal(err)
	}
	sp, err := experiments.ParseSpec([]byte(tinySpecYAML), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&experiments.Runner{Spec: sp, Out: compareFixture}).Run(nil); err != nil {
		t.Fatal(err)
	}
	runs, _ := sp.Runs()
	for _, r := range runs {
		for _, sub := range []string{"checkpoints", "traces"} {
			if err := os.RemoveAll(filepath.Join(r.Dir(compareFixture), sub)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The tables of compare on a fixed set of finished runs, in every format.
func TestCompareGolden(t *testing.T) {
	ensureCompareFixture(t)
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"compare/text.golden", []string{"compare", compareFixture}},
		{"compare/markdown.golden", []string{"compare", compareFixture, "--format", "markdown"}},
		{"compare/csv.golden", []string{"compare", compareFixture, "--format", "csv"}},
		{"compare/json.golden", []string{"compare", compareFixture, "--json"}},
		{"compare/early_columns.golden", []string{"compare", compareFixture, "--snapshot", "34%", "--columns", "cons,util_a,util_b,to_final"}},
		// the paired differences of both tables (2 seeds: a bootstrap
		// over images for the stage means, a t interval with 1 degree of
		// freedom for every figure in the second)
		{"compare/baseline.golden", []string{"compare", compareFixture, "--baseline", "mask2former", "--format", "markdown"}},
	} {
		out, errOut, code := runCLI(t, c.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errOut)
		}
		goldenExp(t, c.golden, out)
	}
	// One seed's directory alone is one configuration: no ablation table.
	out, _, code := runCLI(t, "compare", filepath.Join(compareFixture, "mpformer", "seed-1"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	goldenExp(t, "compare/one_run.golden", out)
}
