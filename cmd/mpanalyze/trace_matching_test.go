package main

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/probes"
)

// dropMatching forwards every stage without its matching (and, with
// dropCover, without the GT coverage), as a recorder that computes no
// matchings would write it.
type dropMatching struct {
	probes.Probe
	dropCover bool
}

func (d dropMatching) Init(info probes.RunInfo) error {
	info.Matching = ""
	return d.Probe.Init(info)
}

func (d dropMatching) Record(st *probes.Stage) error {
	c := *st
	c.Match = nil
	if d.dropCover && c.GT != nil {
		gt := *c.GT
		gt.Cover = nil
		c.GT = &gt
	}
	return d.Probe.Record(&c)
}

// readImages reads every image of a trace.
func readImages(t *testing.T, path string) (probes.RunInfo, []*probes.Image) {
	t.Helper()
	r, err := probes.OpenTrace(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []*probes.Image
	for {
		im, err := r.Next()
		if err == io.EOF {
			return r.Info(), out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, im)
	}
}

// TestRecomputedMatchingsAreTheModels trains a tiny Mask2Former for a few
// steps, probes it with matchings, drops the matchings from the trace and
// reads it again: every matching the reader computes (from the stored
// logits, GT coverage and cost weights) equals the one the model recorded,
// at every stage of every image. Matched against the binary GT masks
// instead (a version 1 trace), some differ: the test tells the two apart.
func TestRecomputedMatchingsAreTheModels(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	args := []string{"train", "--out", run, "--steps", "20", "--image-size", "64", "--size", "64", "--queries", "8",
		"--hidden", "32", "--ffn", "64", "--heads", "4", "--batch", "2", "--n", "16", "--val-n", "16", "--eval-images", "2", "--ckpt-every", "20"}
	if _, errOut, code := runCLI(t, args...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	recorded := filepath.Join(dir, "recorded")
	if _, errOut, code := runCLI(t, "probe", "--checkpoint", filepath.Join(run, "checkpoints", "latest.npz"), "--out", recorded); code != 0 {
		t.Fatalf("probe: exit %d: %s", code, errOut)
	}
	// Rewrite the trace without matchings (and a copy without coverage).
	rewrite := func(name string, dropCover bool) string {
		r, err := probes.OpenTrace(recorded, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		out := filepath.Join(dir, name)
		w := probes.NewTraceWriter(out, nil)
		if err := r.Replay(dropMatching{w, dropCover}, 0); err != nil {
			t.Fatal(err)
		}
		return out
	}
	computed, binary := rewrite("computed", false), rewrite("binary", true)

	info, want := readImages(t, recorded)
	if info.Matching != probes.MatchingRecorded || info.MatchCost == nil || *info.MatchCost != (probes.MatchCost{Class: 2, Mask: 5, Dice: 5}) {
		t.Fatalf("recorded trace: matching %q, cost %+v", info.Matching, info.MatchCost)
	}
	count := func(path string) (same, total int) {
		info, got := readImages(t, path)
		if info.Matching != probes.MatchingComputed || len(got) != len(want) {
			t.Fatalf("%s: matching %q, %d images", path, info.Matching, len(got))
		}
		for i, im := range got {
			for s := range im.Stages {
				a, b := want[i].Stages[s].Match, im.Stages[s].Match
				if len(a) != len(b) {
					t.Fatalf("%s: image %d stage %d: %d vs %d GT segments", path, i, s, len(a), len(b))
				}
				for g := range a {
					total++
					if a[g] == b[g] {
						same++
					}
				}
			}
		}
		return same, total
	}
	same, total := count(computed)
	t.Logf("against the stored GT coverage: %d of %d recomputed matchings equal the model's", same, total)
	if total < 500 || same != total {
		t.Fatalf("%d of %d matchings reproduced, want all (and at least 500)", same, total)
	}
	sameB, totalB := count(binary)
	t.Logf("against binary GT masks: %d of %d equal the model's", sameB, totalB)
	if totalB != total || sameB == totalB {
		t.Errorf("binary targets reproduced %d of %d matchings; the tiny model was expected to tell the targets apart", sameB, totalB)
	}
	// The analysis of the two traces is the same.
	a, _, _ := runCLI(t, "analyze", recorded, "--csv")
	b, _, _ := runCLI(t, "analyze", computed, "--csv")
	if a != b || a == "" {
		t.Errorf("analyze differs:\n%s\nvs\n%s", a, b)
	}
}
