package experiments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/mpanalyze/mpanalyze/internal/version"
	"github.com/mpanalyze/mpanalyze/run"
)

// ManifestFormat identifies the manifest layout.
const ManifestFormat = "mpanalyze-run/1"

// Conventions are the measurement conventions a run's figures were made
// under. Runs whose conventions differ are not compared (Load refuses).
type Conventions struct {
	StageIndexing string `json:"stage_indexing"`
	Threshold     string `json:"threshold"`
	MaskStride    int    `json:"mask_stride"`
	QuerySet      string `json:"query_set"`
	Averaging     string `json:"averaging"`
	EmptyMasks    string `json:"empty_masks"`
}

// CurrentConventions are the conventions of this version of mpanalyze
// (see the metrics and probes package documentation).
var CurrentConventions = Conventions{
	StageIndexing: "stage s is the prediction after stage_layers[s] decoder layers; stage 0 = the heads on the learnable queries (Mask2Former, MP-Former: stages 0..L); MaskFormer stages 1..L",
	Threshold:     "logit > 0 (sigmoid > 0.5)",
	MaskStride:    4,
	QuerySet:      "final_matched (the queries matched to GT at the last stage) for consecutive IoU and IoU to final; Util-A/B/C over GT segments matched at the last stage",
	Averaging:     "pooled over (image, query) pairs of the validation images; seeds: mean ± sample sd",
	EmptyMasks:    "IoU(empty, empty) = 1",
}

// MetricDefinitions documents the fields of metrics.jsonl lines.
var MetricDefinitions = metricDefinitions()

// Tool says which build of mpanalyze wrote a run.
type Tool struct {
	Version string `json:"version"`
	// Revision is the git revision of the build ("+dirty" when the tree
	// was modified), empty when unknown.
	Revision string `json:"revision"`
	// RevisionSource says where Revision comes from: "build" (the
	// binary's VCS stamp), "worktree" (git in the mpanalyze checkout the
	// command runs in, for builds without a stamp, e.g. go test or
	// -buildvcs=false) or "" (unknown).
	RevisionSource string `json:"revision_source,omitempty"`
	Go             string `json:"go"`
}

// Manifest is manifest.json: everything that describes a run.
type Manifest struct {
	Format     string `json:"format"`
	Experiment string `json:"experiment"`
	// Spec is where the experiment was read, its hash and adjustments.
	Spec      SpecRef   `json:"spec"`
	Index     int       `json:"index"`
	Point     string    `json:"point"`
	Overrides Overrides `json:"overrides"`
	Seed      uint64    `json:"seed"`
	// Config is the resolved run configuration (run.json holds the same).
	Config run.Config `json:"config"`
	// SnapshotFractions[k] is the fraction of the steps of
	// Config.Snapshots[k].
	SnapshotFractions []float64 `json:"snapshot_fractions"`
	// Data and Val describe the training and validation sets
	// (data.Dataset.Describe).
	Data        map[string]any    `json:"data"`
	Val         map[string]any    `json:"val"`
	Tool        Tool              `json:"tool"`
	Conventions Conventions       `json:"conventions"`
	Metrics     map[string]string `json:"metrics"`
}

// SpecRef identifies the spec a run came from.
type SpecRef struct {
	Source   string   `json:"source"`
	SHA256   string   `json:"sha256"`
	Adjusted []string `json:"adjusted,omitempty"`
}

// identity is the part of a manifest that must match for a run directory
// to be resumed or counted as the same run: the resolved configuration,
// seed, point and conventions (not the tool build or the spec's text).
func (m *Manifest) identity() any {
	return struct {
		Experiment  string      `json:"experiment"`
		Point       string      `json:"point"`
		Overrides   Overrides   `json:"overrides"`
		Seed        uint64      `json:"seed"`
		Config      run.Config  `json:"config"`
		Fractions   []float64   `json:"snapshot_fractions"`
		Conventions Conventions `json:"conventions"`
	}{m.Experiment, m.Point, m.Overrides, m.Seed, m.Config, m.SnapshotFractions, m.Conventions}
}

// sameRun reports whether two manifests describe the same run, and if not
// the first field that differs.
func sameRun(a, b *Manifest) (bool, string) {
	return sameJSON(a.identity(), b.identity())
}

// sameJSON reports whether a and b have the same JSON form, and if not the
// first field that differs, with both values.
func sameJSON(a, b any) (bool, string) {
	path, va, vb := run.FirstDiff(a, b)
	if path == "" {
		return true, ""
	}
	return false, fmt.Sprintf("%s (%s vs %s)", path, va, vb)
}

// String is the version and, when known, the revision ("unknown
// revision" otherwise), for messages.
func (t Tool) String() string {
	if t.Revision == "" {
		return t.Version + " (unknown revision)"
	}
	return t.Version + " (" + t.Revision + ")"
}

var (
	toolOnce sync.Once
	toolInfo Tool
)

// CurrentTool describes the running build: version and git revision (from
// the binary's VCS stamp, else from the checkout it runs in).
func CurrentTool() Tool { return currentTool() }

// currentTool returns the tool description, looking up the git revision
// once.
func currentTool() Tool {
	toolOnce.Do(func() {
		toolInfo = Tool{Version: version.Version, Go: runtime.Version()}
		if r := version.Revision(); r != "" {
			toolInfo.Revision, toolInfo.RevisionSource = r, "build"
			return
		}
		if r := worktreeRevision(); r != "" {
			toolInfo.Revision, toolInfo.RevisionSource = r, "worktree"
		}
	})
	return toolInfo
}

// worktreeRevision returns the git revision of the mpanalyze checkout
// that contains the working directory, if there is one (go.mod naming this
// module above the working directory).
func worktreeRevision() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			if !bytes.Contains(b, []byte("module github.com/mpanalyze/mpanalyze\n")) {
				return ""
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += "+dirty"
	}
	return rev
}

func readManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("experiments: %s: %v", path, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("experiments: %s: format %q, want %q", path, m.Format, ManifestFormat)
	}
	return &m, nil
}
