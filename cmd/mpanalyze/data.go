package main

import (
	"fmt"
	"image/png"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/data/coco"
	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/limits"
)

func init() { register(newDataCmd) }

type dataOptions struct {
	Export   string
	Spec     data.Spec
	JSON     bool
	Preview  string
	PreviewN int
	Cols     int
	Cell     int
	Workers  int
}

func newDataCmd(s *streams) *cobra.Command {
	opts := &dataOptions{}
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Print statistics of a dataset and draw a preview sheet",
		Long: `data builds a dataset (synthetic by default) and prints its statistics:
images, segments and things per image, a class histogram and the mask area
distribution (quantiles and COCO small/medium/large counts). With --preview
it also writes a PNG contact sheet of the first images with their segments
overlaid in category colours and a legend.`,
		Example: `  mpanalyze data
  mpanalyze data --kind mnist --split val --n 200 --json --data-seed 3
  mpanalyze data --kind photos --preview photos.png --preview-n 12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runData(s, opts) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.Spec.Kind, "kind", "synthetic", "dataset kind: "+strings.Join(data.Kinds(), ", "))
	f.StringVar(&opts.Spec.Split, "split", "train", "split: train or val")
	f.IntVar(&opts.Spec.N, "n", 500, "number of images (0 = all: 10000 train / 1000 val generated images, every image of a COCO file)")
	f.IntVar(&opts.Spec.Size, "size", 0, "side of generated images (0 = 128)")
	// The default is the data seed of a default training run (train --seed
	// 1), so that `data --split val` shows the validation images that run
	// and reproduce score.
	f.Uint64Var(&opts.Spec.Seed, "data-seed", 1, "seed of generated scenes (1 = what a default train run and reproduce use)")
	// --seed was this flag's name before the other commands' --data-seed
	// became the one name; it stays as a hidden, deprecated alias.
	f.Uint64Var(&opts.Spec.Seed, "seed", 1, "seed of generated scenes")
	_ = f.MarkDeprecated("seed", "use --data-seed")
	// pflag writes the deprecation notice to the flag set's output, which
	// cobra would copy to the command's stdout (and so into --json
	// output); send it to stderr.
	f.SetOutput(s.Err)
	f.IntVar(&opts.Spec.MaxThings, "max-things", 0, "most things per generated image (0 = the kind's default)")
	f.BoolVar(&opts.Spec.ShapeOnly, "shape-only", false, "synthetic: no class colour hints (only shape and texture tell the classes)")
	f.StringVar(&opts.Spec.Annotations, "annotations", "", "coco: instance or panoptic JSON file")
	f.StringVar(&opts.Spec.Images, "image-dir", "", "coco: image directory")
	f.StringVar(&opts.Spec.PanopticPNGs, "panoptic-pngs", "", "coco: panoptic PNG directory (panoptic JSON)")
	f.BoolVar(&opts.Spec.SkipInvalid, "skip-invalid", false, "coco: skip (and count) bad annotations instead of failing")
	f.BoolVar(&opts.JSON, "json", false, "print JSON")
	f.StringVar(&opts.Export, "export-coco", "", "also write the dataset in COCO instance and panoptic format into this directory")
	f.StringVar(&opts.Preview, "preview", "", "write a preview PNG sheet to this file")
	f.IntVar(&opts.PreviewN, "preview-n", 12, "images in the preview")
	f.IntVar(&opts.Cols, "preview-cols", 4, "images per preview row")
	f.IntVar(&opts.Cell, "preview-cell", 256, "side of each preview panel in pixels")
	f.IntVar(&opts.Workers, "workers", runtime.GOMAXPROCS(0), "goroutines reading images (does not change the result)")
	limitDatasetFlags(f, "")
	limit(f, "seed", limits.Any())
	limit(f, "preview-n", limits.Ints(1, 10000))
	limit(f, "preview-cols", limits.Ints(1, 100))
	limit(f, "preview-cell", limits.Ints(16, 4096))
	limit(f, "workers", limits.Ints(1, 1024))
	return cmd
}

// dataReport is the --json output.
type dataReport struct {
	Dataset    map[string]any  `json:"dataset"`
	Categories []data.Category `json:"categories"`
	Stats      *data.Stats     `json:"stats"`
	Quantiles  []float64       `json:"quantile_levels"`
	MSPerImage float64         `json:"ms_per_image"`
	Preview    string          `json:"preview,omitempty"`
}

func runData(s *streams, opts *dataOptions) error {
	if err := checkDatasetFlags(opts.Spec, ""); err != nil {
		return err
	}
	ds, err := data.Open(opts.Spec)
	if err != nil {
		return err
	}
	if err := outFile("preview", opts.Preview); err != nil {
		return err
	}
	if err := outDir("export-coco", opts.Export); err != nil {
		return err
	}
	start := time.Now()
	st, err := data.ComputeStats(ds, 0, opts.Workers)
	if err != nil {
		return err
	}
	ms := 0.0
	if st.Images > 0 {
		// Wall time per image over the workers, so it is the throughput.
		ms = float64(time.Since(start).Microseconds()) / 1000 / float64(st.Images)
	}
	if opts.Preview != "" {
		var samples []*data.Sample
		for i := 0; i < min(opts.PreviewN, ds.Len()); i++ {
			smp, err := ds.Sample(i)
			if err != nil {
				return err
			}
			samples = append(samples, smp)
		}
		img := data.Preview(samples, ds.Categories(), data.PreviewOptions{Cols: opts.Cols, Cell: opts.Cell})
		if err := atomicfile.Write(opts.Preview, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
			return err
		}
	}
	if opts.Export != "" {
		dir := opts.Export
		if err := coco.ExportInstances(ds, filepath.Join(dir, "instances.json"), filepath.Join(dir, "images"), nil); err != nil {
			return err
		}
		if err := coco.ExportPanoptic(ds, filepath.Join(dir, "panoptic.json"), filepath.Join(dir, "images"), filepath.Join(dir, "panoptic")); err != nil {
			return err
		}
		fmt.Fprintf(s.Err, "COCO export: %s/{instances.json, panoptic.json, images/, panoptic/}\n", dir)
	}
	if opts.JSON {
		return writeJSON(s.Out, dataReport{
			Dataset: ds.Describe(), Categories: ds.Categories(), Stats: st,
			Quantiles: data.QuantileLevels, MSPerImage: ms, Preview: opts.Preview,
		})
	}
	return printDataStats(s.Out, ds, st, ms, opts.Preview)
}

func printDataStats(out io.Writer, ds data.Dataset, st *data.Stats, ms float64, preview string) error {
	d := ds.Describe()
	side := fmt.Sprintf("%d×%d", st.MinSide, st.MinSide)
	if st.MinSide != st.MaxSide {
		side = fmt.Sprintf("sides %d–%d", st.MinSide, st.MaxSide)
	}
	summary := tables.Table{Header: []string{"dataset", fmt.Sprintf("%s, split %v, seed %v", ds.Name(), d["split"], d["seed"])}}
	add := func(k, v string) { summary.Rows = append(summary.Rows, []string{k, v}) }
	add("images", fmt.Sprintf("%d (%s), %.2f ms per image", st.Images, side, ms))
	for _, p := range []struct {
		name string
		v    data.PerImage
	}{{"segments/image", st.Segments}, {"things/image", st.Things}} {
		add(p.name, fmt.Sprintf("mean %.2f, min %d, max %d; histogram %s", p.v.Mean, p.v.Min, p.v.Max, histString(p.v.Histogram)))
	}
	add("void pixels", fmt.Sprintf("%.2f %%", 100*st.VoidFraction))

	classes := tables.Table{Header: []string{"class", "kind", "instances", "images", "pixels %"}}
	for _, c := range st.Classes {
		kind := "stuff"
		if c.IsThing {
			kind = "thing"
		}
		classes.Rows = append(classes.Rows, []string{c.Name, kind, fmt.Sprint(c.Instances), fmt.Sprint(c.Images), fmt.Sprintf("%.2f", 100*c.PixelFraction)})
		classes.Values = append(classes.Values, []*tables.Number{nil, nil, tables.Plain(float64(c.Instances)), tables.Plain(float64(c.Images)), tables.Plain(100 * c.PixelFraction)})
	}

	areas := tables.Table{Header: []string{"mask area (px)", "count"}}
	for _, q := range data.QuantileLevels {
		areas.Header = append(areas.Header, fmt.Sprintf("p%g", 100*q))
	}
	areas.Header = append(areas.Header, "small", "medium", "large")
	for _, a := range []struct {
		name string
		v    data.AreaStats
	}{{"things", st.ThingAreas}, {"stuff", st.StuffAreas}} {
		row := []string{a.name, fmt.Sprint(a.v.Count)}
		vals := []*tables.Number{nil, tables.Plain(float64(a.v.Count))}
		for i := range data.QuantileLevels {
			v := math.NaN()
			if i < len(a.v.Quantiles) {
				v = a.v.Quantiles[i]
			}
			row = append(row, formatOr(v, "%.0f"))
			vals = append(vals, tables.Plain(v))
		}
		for _, n := range []int{a.v.Small, a.v.Medium, a.v.Large} {
			row = append(row, fmt.Sprint(n))
			vals = append(vals, tables.Plain(float64(n)))
		}
		areas.Rows = append(areas.Rows, row)
		areas.Values = append(areas.Values, vals)
	}
	if err := tables.WriteSet(out, []tables.Named{{Key: "summary", Table: summary}, {Key: "classes", Table: classes}, {Key: "areas", Table: areas}}, "text", nil); err != nil {
		return err
	}
	if preview != "" {
		fmt.Fprintf(out, "\npreview written to %s\n", preview)
	}
	return nil
}

// formatOr formats v, or "—" when it is NaN.
func formatOr(v float64, format string) string {
	if math.IsNaN(v) {
		return tables.Dash
	}
	return fmt.Sprintf(format, v)
}

// histString formats a histogram as "count:images" pairs, skipping zeros.
func histString(h []int) string {
	var parts []string
	for c, n := range h {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d:%d", c, n))
		}
	}
	return strings.Join(parts, " ")
}
