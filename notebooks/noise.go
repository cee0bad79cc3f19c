package notebooks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/mpanalyze/mpanalyze/experiments"
)

// NoiseAblation is the noise-ratio notebook: a built-in ablation spec,
// shrunk, and its tables.
func NoiseAblation(nb *Notebook) {
	var (
		spec *experiments.Spec
		rs   *experiments.Results
	)
	nb.Text(`
		MP-Former feeds its MP queries the ground-truth masks as attention
		masks, optionally with noise. With **point noise** of ratio ns, every
		pixel of a pilot mask flips with probability ns·A/HW at every layer (A
		the object's area): a few background pixels become attendable and a
		few object pixels blocked. The paper reports ns = 0.2 as best; the
		release script used 0. The built-in spec ` + "`noise_ratio`" + ` runs the
		grid ns ∈ {0, 0.1, 0.2, 0.4}; here it is shrunk as in the diagnosis
		notebook (a narrow model on 64 px scenes, 80 steps, 16 validation
		images, one seed instead of two).`)
	nb.Cell(func(w io.Writer) error {
		var err error
		if spec, err = experiments.LoadSpec("noise_ratio"); err != nil {
			return err
		}
		for _, o := range tiny {
			if spec, err = spec.WithSet(o.Key, o.Value); err != nil {
				return err
			}
		}
		if spec, err = spec.WithData("size", 64); err != nil {
			return err
		}
		if spec, err = spec.WithSteps(80); err != nil {
			return err
		}
		if spec, err = spec.WithSeeds(1); err != nil {
			return err
		}
		spec.Base.ValImages = 16
		runs, err := spec.Runs()
		if err != nil {
			return err
		}
		for _, r := range runs {
			ov, _ := json.Marshal(r.Point.Set)
			fmt.Fprintf(w, "run %d: %-16s %s  noise %q, ratio %g\n", r.Index, r.Point.Name, ov, r.Config.Model.MP.Noise, r.Config.Model.MP.NoiseRatio)
		}
		return nil
	})
	nb.Text(`
		The point names come from the spec's ` + "`product`" + ` axis (key
		` + "`mp.noise_ratio`" + `); the runs are numbered point-major, which is
		the index ` + "`mpanalyze ablate --index i`" + ` takes on a cluster.`)
	nb.Cell(func(w io.Writer) error {
		out := nb.Dir + "/noise_ratio"
		if _, err := (&experiments.Runner{Spec: spec, Out: out}).Run(nil); err != nil {
			return err
		}
		var err error
		rs, err = experiments.Load(out)
		if err != nil {
			return err
		}
		t, err := rs.AblationTable("final")
		if err != nil {
			return err
		}
		return t.Render(w, "text")
	})
	nb.Text(`
		The ablation table has one row per grid point: its override, then the
		means over stages of consecutive IoU (over the stage pairs) and Util-A
		(over the stages before the last), and the task metrics. To see where
		in the decoder the ratio matters, the per-stage Util-A of every point:`)
	nb.Cell(func(w io.Writer) error {
		t, err := rs.DiagnosisTable("final", []string{"util_a"})
		if err != nil {
			return err
		}
		return t.Render(w, "text")
	})
	nb.Text(`
		And through training, from each run's ` + "`metrics.jsonl`" + ` (the
		aggregate line of each snapshot):`)
	nb.Cell(func(w io.Writer) error {
		pct := func(v any) string { // null (undefined) reads as a dash
			if f, ok := v.(float64); ok {
				return fmt.Sprintf("%5.1f %%", 100*f)
			}
			return "    —  "
		}
		for _, r := range rs.Runs {
			lines, err := readJSONLines(r.Dir + "/metrics.jsonl")
			if err != nil {
				return err
			}
			for _, l := range lines {
				if l["kind"] == "snapshot" {
					fmt.Fprintf(w, "%-16s step %3.0f: mean consecutive IoU %s, mean Util-A %s\n",
						l["point"], l["step"], pct(l["mean_consecutive_iou"]), pct(l["mean_util_a"]))
				}
			}
		}
		return nil
	})
	nb.Text(`
		With one seed and a tiny model there is no telling noise from effect:
		the full spec (` + "`mpanalyze ablate noise_ratio`" + `) runs two seeds per
		point and reports mean ± sd, and ` + "`mpanalyze compare`" + ` merges
		more seeds run elsewhere.`)
}

// readJSONLines reads a JSON-lines file into maps.
func readJSONLines(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}
