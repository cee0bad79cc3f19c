package experiments

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/run"
)

// Spec is an experiment: a base run, a grid of points (each a set of
// overrides on the base) and the seeds every point is trained with. See
// specs/README.md for the file format.
type Spec struct {
	// Name names the experiment (manifests, tables). Required.
	Name string `yaml:"name" json:"name"`
	// Description is one line for people.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Base        Base   `yaml:"base" json:"base"`
	// Grid lists the points in order. With Product, every grid point is
	// crossed with every combination of the axes; an empty Grid then
	// means one unnamed point with no overrides.
	Grid    []Point `yaml:"grid,omitempty" json:"grid,omitempty"`
	Product []Axis  `yaml:"product,omitempty" json:"product,omitempty"`
	// Seeds are the training seeds; every point runs once per seed.
	Seeds []uint64 `yaml:"seeds" json:"seeds"`

	// Source is where the spec was read: a file path or "builtin:<name>".
	Source string `yaml:"-" json:"source"`
	// SHA256 is the hex SHA-256 of the source bytes.
	SHA256 string `yaml:"-" json:"sha256"`
	// Adjusted lists changes made after reading (WithSteps, WithSeeds,
	// WithSet), e.g. "steps=400", so that a manifest says how the run
	// departs from the file.
	Adjusted []string `yaml:"-" json:"adjusted,omitempty"`
}

// Base is what every point starts from.
type Base struct {
	// Arch is the architecture: maskformer, mask2former (default) or
	// mpformer.
	Arch string `yaml:"arch,omitempty" json:"arch,omitempty"`
	// Steps is the training length. Required.
	Steps int `yaml:"steps" json:"steps"`
	// Data is the training set as data.Spec JSON keys (kind, seed, size,
	// n, max_things, annotations, images, panoptic_pngs, skip_invalid).
	// The validation set is the same spec with split "val". Kind defaults
	// to "synthetic", seed to 1. The data seed is the same for every run
	// (the run seed changes initialisation, data order, augmentation and
	// MP noise), so that all runs are scored on the same images.
	Data Overrides `yaml:"data,omitempty" json:"data,omitempty"`
	// ValImages is the number of validation images probed and evaluated
	// (the first ones of the val split). Default 64.
	ValImages int `yaml:"val_images,omitempty" json:"val_images,omitempty"`
	// Snapshots are the points of training, as fractions of the steps in
	// (0, 1], at which the run is probed and evaluated. Default [1].
	Snapshots []float64 `yaml:"snapshots,omitempty" json:"snapshots,omitempty"`
	// Set are overrides applied to every point before the point's own.
	Set Overrides `yaml:"set,omitempty" json:"set,omitempty"`
}

// Point is one named grid point.
type Point struct {
	// Name names the run directory OUT/<name>/ and the table rows:
	// letters, digits and . _ = , + - only.
	Name string `yaml:"name" json:"name"`
	// Set are the point's overrides, in the order they should appear as
	// columns.
	Set Overrides `yaml:"set,omitempty" json:"set,omitempty"`
}

// Axis is one factor of a cartesian product: a key and its values.
type Axis struct {
	Key    string `yaml:"key" json:"key"`
	Values []any  `yaml:"values" json:"values"`
}

// Override sets one dotted key to a value (a number, string, bool or list
// of them, as YAML decodes it).
type Override struct {
	Key   string
	Value any
}

// Overrides is an ordered set of overrides. In YAML and JSON it is a
// mapping whose key order is kept.
type Overrides []Override

// UnmarshalYAML reads a mapping, keeping the order of its keys.
func (o *Overrides) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of key: value, got %s", n.Line, nodeKind(n))
	}
	var out Overrides
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a key must be a plain name", k.Line)
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		var val any
		if err := v.Decode(&val); err != nil {
			return fmt.Errorf("line %d: key %q: %w", v.Line, k.Value, err)
		}
		if _, ok := val.(map[string]any); ok {
			return fmt.Errorf("line %d: key %q: want a value, got a mapping (write nested keys with dots, e.g. mp.noise)", v.Line, k.Value)
		}
		out = append(out, Override{Key: k.Value, Value: val})
	}
	*o = out
	return nil
}

// MarshalJSON writes the overrides as a JSON object in their order.
func (o Overrides) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, ov := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(ov.Key)
		v, err := json.Marshal(ov.Value)
		if err != nil {
			return nil, fmt.Errorf("override %s: %w", ov.Key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a JSON object, keeping the order of its keys.
func (o *Overrides) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want a JSON object of overrides")
	}
	var out Overrides
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		out = append(out, Override{Key: t.(string), Value: normJSON(raw)})
	}
	*o = out
	return nil
}

// normJSON turns json.Numbers into int or float64, as YAML decodes them.
func normJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.Atoi(x.String()); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normJSON(x[i])
		}
	}
	return v
}

// Get returns the value of key and whether it is set.
func (o Overrides) Get(key string) (any, bool) {
	for _, ov := range o {
		if ov.Key == key {
			return ov.Value, true
		}
	}
	return nil, false
}

// With returns o with key set to v: replaced in place when present,
// appended otherwise.
func (o Overrides) With(key string, v any) Overrides {
	out := append(Overrides(nil), o...)
	for i := range out {
		if out[i].Key == key {
			out[i].Value = v
			return out
		}
	}
	return append(out, Override{Key: key, Value: v})
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

//go:embed specs/*.yaml
var builtinFS embed.FS

// Builtins returns the names of the built-in specs, sorted.
func Builtins() []string {
	ents, _ := fs.ReadDir(builtinFS, "specs")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// BuiltinSource returns the file of a built-in spec as shipped.
func BuiltinSource(name string) ([]byte, error) {
	b, err := builtinFS.ReadFile("specs/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("experiments: no built-in spec %q (built-in: %s)", name, strings.Join(Builtins(), ", "))
	}
	return b, nil
}

// LoadSpec reads a spec: a built-in name (see Builtins) or a YAML or JSON
// file. A name that is both a built-in and an existing file is the file.
func LoadSpec(nameOrPath string) (*Spec, error) {
	if b, err := os.ReadFile(nameOrPath); err == nil {
		return ParseSpec(b, nameOrPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("experiments: spec %s: %w", nameOrPath, err)
	}
	if b, err := BuiltinSource(nameOrPath); err == nil {
		return ParseSpec(b, "builtin:"+nameOrPath)
	}
	return nil, fmt.Errorf("experiments: spec %s: no such file, and not a built-in spec (built-in: %s)", nameOrPath, strings.Join(Builtins(), ", "))
}

// ParseSpec parses a YAML (or JSON, which is YAML) spec and checks it: the
// fields are known, the points valid and unique, and every run's overrides
// resolve onto a run.Config. source names the spec in errors.
func ParseSpec(b []byte, source string) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("experiments: spec %s: %v", source, cleanYAMLError(err))
	}
	sum := sha256.Sum256(b)
	s.Source, s.SHA256 = source, hex.EncodeToString(sum[:])
	if err := s.Check(); err != nil {
		return nil, err
	}
	return &s, nil
}

func cleanYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = strings.ReplaceAll(msg, "in type experiments.", "in ")
	if msg == "EOF" {
		msg = "empty spec"
	}
	return msg
}

// errf returns an error naming the spec.
func (s *Spec) errf(format string, a ...any) error {
	return fmt.Errorf("experiments: spec %s: %s", s.Source, fmt.Sprintf(format, a...))
}

// Check validates the spec and resolves every run's configuration, so that
// an error shows before anything is trained.
func (s *Spec) Check() error {
	if s.Name == "" {
		return s.errf("name is missing")
	}
	if err := checkName(s.Name); err != nil {
		return s.errf("name: %v", err)
	}
	if s.Base.Steps <= 0 {
		return s.errf("base.steps must be a positive number of training steps")
	}
	if s.Base.ValImages < 0 {
		return s.errf("base.val_images must not be negative")
	}
	for _, f := range s.Base.Snapshots {
		if !(f > 0 && f <= 1) {
			return s.errf("base.snapshots: %v is not a fraction of the steps in (0, 1]", f)
		}
	}
	if len(s.Seeds) == 0 {
		return s.errf("seeds: give at least one seed")
	}
	seen := map[uint64]bool{}
	for _, sd := range s.Seeds {
		if seen[sd] {
			return s.errf("seeds: seed %d given twice", sd)
		}
		seen[sd] = true
	}
	if len(s.Grid) == 0 && len(s.Product) == 0 {
		return s.errf("grid: give at least one point (or a product)")
	}
	for i, ax := range s.Product {
		if ax.Key == "" || len(ax.Values) == 0 {
			return s.errf("product[%d]: an axis needs a key and values", i)
		}
		for _, v := range ax.Values {
			if _, err := valueName(v); err != nil {
				return s.errf("product[%d] (%s): %v", i, ax.Key, err)
			}
		}
	}
	if n := s.numRuns(); n > MaxRuns {
		return s.errf("%.0f runs (points × seeds); a spec may have at most %d", n, MaxRuns)
	}
	points, err := s.Points()
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, p := range points {
		if err := checkName(p.Name); err != nil {
			return s.errf("point %q: %v", p.Name, err)
		}
		if names[p.Name] {
			return s.errf("point %q appears twice", p.Name)
		}
		names[p.Name] = true
	}
	r := newResolver()
	for _, p := range points {
		if _, err := r.resolve(s, p, s.Seeds[0]); err != nil {
			return err
		}
	}
	return nil
}

// MaxRuns is the most runs (points × seeds) a spec may have: at a minute
// per run, a week of training.
const MaxRuns = 10000

// numRuns counts the runs without building the points (a float, so that
// a large product cannot overflow).
func (s *Spec) numRuns() float64 {
	n := float64(max(len(s.Grid), 1)) * float64(len(s.Seeds))
	for _, ax := range s.Product {
		n *= float64(len(ax.Values))
	}
	return n
}

// checkName accepts names usable as one directory name everywhere.
func checkName(n string) error {
	if n == "" {
		return fmt.Errorf("empty name")
	}
	if n == "." || n == ".." || strings.HasPrefix(n, ".") {
		return fmt.Errorf("a name must not start with a dot")
	}
	for _, c := range n {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._=,+-", c)
		if !ok {
			return fmt.Errorf("character %q not allowed (letters, digits and . _ = , + - only)", c)
		}
	}
	return nil
}

// valueName formats an axis value for a point name.
func valueName(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("axis values must be numbers, strings or booleans, got %v", v)
}

// Points returns the grid points in order: Grid, or with Product every
// grid point (in order) crossed with every combination of the axes (the
// first axis varying slowest). A product point is named by its grid
// point's name and key=value for each axis (the key's last dotted part),
// joined by commas, e.g. "mpformer,noise_ratio=0.1".
func (s *Spec) Points() ([]Point, error) {
	if len(s.Product) == 0 {
		return s.Grid, nil
	}
	grid := s.Grid
	if len(grid) == 0 {
		grid = []Point{{}}
	}
	var out []Point
	for _, g := range grid {
		combos := [][]int{{}}
		for _, ax := range s.Product {
			var next [][]int
			for _, c := range combos {
				for j := range ax.Values {
					next = append(next, append(append([]int(nil), c...), j))
				}
			}
			combos = next
		}
		for _, c := range combos {
			p := Point{Set: append(Overrides(nil), g.Set...)}
			var parts []string
			if g.Name != "" {
				parts = append(parts, g.Name)
			}
			for i, j := range c {
				ax := s.Product[i]
				if _, dup := p.Set.Get(ax.Key); dup {
					return nil, s.errf("product key %q is also set by grid point %q", ax.Key, g.Name)
				}
				p.Set = append(p.Set, Override{Key: ax.Key, Value: ax.Values[j]})
				vn, _ := valueName(ax.Values[j])
				key := ax.Key[strings.LastIndex(ax.Key, ".")+1:]
				parts = append(parts, key+"="+vn)
			}
			p.Name = strings.Join(parts, ",")
			out = append(out, p)
		}
	}
	return out, nil
}

// Run is one (point, seed) of an experiment.
type Run struct {
	// Index is the run's position: point-major, seeds in spec order,
	// Index = pointIndex·len(Seeds) + seedIndex. `ablate --index i` runs
	// run i alone.
	Index int
	Point Point
	Seed  uint64
	// Config is the resolved run configuration.
	Config run.Config
	// Fractions[k] is the fraction of the steps of Config.Snapshots[k].
	Fractions []float64
}

// Dir is the run's directory under an output directory: OUT/<point>/seed-<n>.
func (r *Run) Dir(out string) string {
	return filepath.Join(out, r.Point.Name, "seed-"+strconv.FormatUint(r.Seed, 10))
}

// Runs resolves every run of the experiment, in index order.
func (s *Spec) Runs() ([]Run, error) {
	points, err := s.Points()
	if err != nil {
		return nil, err
	}
	res := newResolver()
	var runs []Run
	for _, p := range points {
		for _, sd := range s.Seeds {
			rr, err := res.resolve(s, p, sd)
			if err != nil {
				return nil, err
			}
			rr.Index = len(runs)
			runs = append(runs, rr)
		}
	}
	return runs, nil
}

// WithSteps returns a copy of the spec with base.steps set to n (points
// with steps_scale keep their fraction of it; points that set steps keep
// theirs).
func (s *Spec) WithSteps(n int) (*Spec, error) {
	c := s.clone()
	c.Base.Steps = n
	c.Adjusted = append(c.Adjusted, fmt.Sprintf("steps=%d", n))
	return c, c.Check()
}

// WithSeeds returns a copy of the spec with the seeds 1..n.
func (s *Spec) WithSeeds(n int) (*Spec, error) {
	c := s.clone()
	c.Seeds = nil
	for i := 1; i <= n; i++ {
		c.Seeds = append(c.Seeds, uint64(i))
	}
	c.Adjusted = append(c.Adjusted, fmt.Sprintf("seeds=1..%d", n))
	return c, c.Check()
}

// WithSet returns a copy of the spec with key=value added to base.set
// (replacing an earlier base value; points that set the key keep theirs).
func (s *Spec) WithSet(key string, v any) (*Spec, error) {
	c := s.clone()
	c.Base.Set = c.Base.Set.With(key, v)
	c.Adjusted = append(c.Adjusted, fmt.Sprintf("%s=%v", key, v))
	return c, c.Check()
}

// WithData returns a copy of the spec with base.data key set to v.
func (s *Spec) WithData(key string, v any) (*Spec, error) {
	c := s.clone()
	c.Base.Data = c.Base.Data.With(key, v)
	c.Adjusted = append(c.Adjusted, fmt.Sprintf("data.%s=%v", key, v))
	return c, c.Check()
}

func (s *Spec) clone() *Spec {
	c := *s
	c.Base.Set = append(Overrides(nil), s.Base.Set...)
	c.Base.Data = append(Overrides(nil), s.Base.Data...)
	c.Base.Snapshots = append([]float64(nil), s.Base.Snapshots...)
	c.Seeds = append([]uint64(nil), s.Seeds...)
	c.Adjusted = append([]string(nil), s.Adjusted...)
	return &c
}

// snapshotSteps turns fractions into distinct ascending steps (each at
// least 1), with the fraction each stands for.
func snapshotSteps(fracs []float64, steps int) ([]int, []float64) {
	if len(fracs) == 0 {
		fracs = []float64{1}
	}
	byStep := map[int]float64{}
	for _, f := range fracs {
		st := max(1, int(math.Round(f*float64(steps))))
		if old, ok := byStep[st]; !ok || f > old {
			byStep[st] = f
		}
	}
	var out []int
	for st := range byStep {
		out = append(out, st)
	}
	sort.Ints(out)
	fr := make([]float64, len(out))
	for i, st := range out {
		fr[i] = byStep[st]
	}
	return out, fr
}

// dataSpec builds the training data spec from base.data.
func (s *Spec) dataSpec() (data.Spec, error) {
	ds := data.Spec{Kind: "synthetic", Seed: 1}
	m := map[string]any{"kind": ds.Kind, "seed": ds.Seed}
	for _, ov := range s.Base.Data {
		if ov.Key == "split" {
			return ds, s.errf("base.data: split is set by the runner (train, and val for the validation set)")
		}
		if err := checkLimit([]string{"data", ov.Key}, ov.Value); err != nil {
			return ds, s.errf("base.data: key %q: %v", ov.Key, err)
		}
		m[ov.Key] = ov.Value
	}
	b, _ := json.Marshal(m)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ds); err != nil {
		return ds, s.errf("base.data: %v (keys: kind, seed, size, n, max_things, annotations, images, panoptic_pngs, skip_invalid)", strings.TrimPrefix(err.Error(), "json: "))
	}
	ds.Split = "train"
	return ds, nil
}
