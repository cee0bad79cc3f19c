package experiments

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/mpanalyze/mpanalyze/data"
	_ "github.com/mpanalyze/mpanalyze/data/coco" // registers the "coco" kind for specs
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/run"
)

// Keys the resolver handles itself rather than by setting a field.
const (
	keyArch       = "arch"        // the architecture; picks the model defaults
	keySteps      = "steps"       // training length; the LR schedule follows it
	keyStepsScale = "steps_scale" // training length as a fraction of base.steps
)

// forbidden are RunConfig fields a spec may not override, with the reason.
var forbidden = map[string]string{
	"model.num_classes":   "it is set from the dataset",
	"model.class_names":   "it is set from the dataset",
	"model.thing_classes": "it is set from the dataset",
	"train.seed":          "seeds are listed in the spec's seeds",
	"snapshots":           "use base.snapshots (fractions of the steps)",
	"eval_images":         "use base.val_images",
	"data.split":          "the runner sets it",
	"val.split":           "the runner sets it",
	"model.arch":          "", // canonicalised to arch
	"train.steps":         "", // canonicalised to steps
}

var topGroups = map[string]bool{"model": true, "train": true, "data": true, "val": true, "augment": true}

// resolver resolves overrides; it caches opened datasets (their classes).
type resolver struct {
	datasets map[string]data.Dataset
}

func newResolver() *resolver { return &resolver{datasets: map[string]data.Dataset{}} }

func (r *resolver) open(s data.Spec) (data.Dataset, error) {
	k, _ := json.Marshal(s)
	if ds, ok := r.datasets[string(k)]; ok {
		return ds, nil
	}
	ds, err := data.Open(s)
	if err != nil {
		return nil, err
	}
	r.datasets[string(k)] = ds
	return ds, nil
}

// sourced is an override with where it was given, for errors.
type sourced struct {
	Override
	where string // "base.set" or `point "x"`
}

// canonicalPath maps a spec key to its path in run.Config's JSON
// form: "mp.noise" → [model mp noise], "schedule.base_lr" → [train
// schedule base_lr], "model.queries" → [model queries]. The special keys
// arch, steps and steps_scale map to themselves.
func canonicalPath(key string) ([]string, error) {
	switch key {
	case keyArch, "model.arch":
		return []string{keyArch}, nil
	case keySteps, "train.steps":
		return []string{keySteps}, nil
	case keyStepsScale:
		return []string{keyStepsScale}, nil
	}
	parts := strings.Split(key, ".")
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("not a dotted key")
		}
	}
	rt := reflect.TypeOf(run.Config{})
	var cands [][]string
	if topGroups[parts[0]] {
		cands = [][]string{parts}
	} else {
		cands = [][]string{parts, append([]string{"model"}, parts...), append([]string{"train"}, parts...)}
	}
	for _, c := range cands {
		if _, err := fieldType(rt, c); err == nil {
			full := strings.Join(c, ".")
			if why, bad := forbidden[full]; bad && why != "" {
				return nil, fmt.Errorf("cannot be overridden: %s", why)
			}
			return c, nil
		}
	}
	msg := "unknown key"
	if s := suggest(key); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	} else {
		msg += " (see experiments/specs/README.md for the keys)"
	}
	return nil, fmt.Errorf("%s", msg)
}

// fieldType follows a JSON path through struct types.
func fieldType(t reflect.Type, path []string) (reflect.StructField, error) {
	var f reflect.StructField
	for i, name := range path {
		if t.Kind() != reflect.Struct {
			return f, fmt.Errorf("%s is not a group", strings.Join(path[:i], "."))
		}
		found := false
		for j := 0; j < t.NumField(); j++ {
			sf := t.Field(j)
			if jsonName(sf) == name {
				f, t, found = sf, sf.Type, true
				break
			}
		}
		if !found {
			return f, fmt.Errorf("no field %s", name)
		}
	}
	return f, nil
}

// jsonName is the field's JSON name; untagged fields (data.Augment's)
// are named in snake case, "ScaleMin" → "scale_min", which matches how
// encoding/json reads them (case-insensitively) once the underscores go.
func jsonName(sf reflect.StructField) string {
	tag := sf.Tag.Get("json")
	if tag == "-" || !sf.IsExported() {
		return ""
	}
	if n, _, _ := strings.Cut(tag, ","); n != "" {
		return n
	}
	var b strings.Builder
	for i, c := range sf.Name {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Keys lists every key a spec may override, in the short form the specs
// use (model and train fields without their prefix), sorted.
func Keys() []string {
	var out []string
	var walk func(t reflect.Type, prefix []string)
	walk = func(t reflect.Type, prefix []string) {
		for j := 0; j < t.NumField(); j++ {
			sf := t.Field(j)
			n := jsonName(sf)
			if n == "" {
				continue
			}
			p := append(append([]string(nil), prefix...), n)
			if sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, p)
				continue
			}
			full := strings.Join(p, ".")
			if _, bad := forbidden[full]; bad {
				continue
			}
			if p[0] == "model" || p[0] == "train" {
				full = strings.Join(p[1:], ".")
			}
			out = append(out, full)
		}
	}
	walk(reflect.TypeOf(run.Config{}), nil)
	out = append(out, keyArch, keySteps, keyStepsScale)
	sort.Strings(out)
	return out
}

// suggest returns the known key closest to key, if close enough.
func suggest(key string) string {
	best, bestD := "", 4
	for _, k := range Keys() {
		d := editDistance(key, k)
		if tail := k[strings.LastIndex(k, ".")+1:]; tail == key {
			d = 0
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// setPath sets the field at path of the struct v points to.
func setPath(v reflect.Value, path []string, val any) error {
	for _, name := range path {
		v = reflect.Indirect(v)
		t := v.Type()
		found := false
		for j := 0; j < t.NumField(); j++ {
			if jsonName(t.Field(j)) == name {
				v, found = v.Field(j), true
				break
			}
		}
		if !found {
			return fmt.Errorf("no field %s", name) // canonicalPath checked it
		}
	}
	return assign(v, val)
}

// assign stores val (as YAML decodes it) into v, checking its type.
func assign(v reflect.Value, val any) error {
	switch v.Kind() {
	case reflect.String:
		s, ok := val.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", describe(val))
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := val.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %s", describe(val))
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f, ok := number(val)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return fmt.Errorf("want a whole number, got %s", describe(val))
		}
		v.SetInt(int64(f))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f, ok := number(val)
		if !ok || f != math.Trunc(f) || f < 0 || f > 1<<53 {
			return fmt.Errorf("want a non-negative whole number, got %s", describe(val))
		}
		v.SetUint(uint64(f))
	case reflect.Float32, reflect.Float64:
		f, ok := number(val)
		if !ok {
			return fmt.Errorf("want a number, got %s", describe(val))
		}
		v.SetFloat(f)
	case reflect.Slice, reflect.Array:
		list, ok := val.([]any)
		if !ok {
			return fmt.Errorf("want a list, got %s", describe(val))
		}
		if v.Kind() == reflect.Array && len(list) != v.Len() {
			return fmt.Errorf("want a list of %d values, got %d", v.Len(), len(list))
		}
		if v.Kind() == reflect.Slice {
			v.Set(reflect.MakeSlice(v.Type(), len(list), len(list)))
		}
		for i, e := range list {
			if err := assign(v.Index(i), e); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
		}
	case reflect.Struct:
		var names []string
		for j := 0; j < v.NumField(); j++ {
			if n := jsonName(v.Type().Field(j)); n != "" {
				names = append(names, n)
			}
		}
		return fmt.Errorf("is a group of settings; set one of its fields (%s) with a dotted key", strings.Join(names, ", "))
	default:
		return fmt.Errorf("cannot be set from a spec")
	}
	return nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%v", v)
}

// merged returns base.set then the point's overrides; a point's value
// replaces a base value of the same key (which keeps its position).
func merged(s *Spec, p Point) []sourced {
	var out []sourced
	idx := map[string]int{}
	add := func(ov Override, where string) {
		k := ov.Key
		if path, err := canonicalPath(k); err == nil {
			k = strings.Join(path, ".")
		}
		if i, ok := idx[k]; ok {
			out[i] = sourced{ov, where}
			return
		}
		idx[k] = len(out)
		out = append(out, sourced{ov, where})
	}
	for _, ov := range s.Base.Set {
		add(ov, "base.set")
	}
	for _, ov := range p.Set {
		add(ov, fmt.Sprintf("point %q", p.Name))
	}
	return out
}

// resolve builds the RunConfig of point p with seed.
func (r *resolver) resolve(s *Spec, p Point, seed uint64) (Run, error) {
	rn := Run{Point: p, Seed: seed}
	ovs := merged(s, p)
	keyErr := func(o sourced, err error) error {
		return s.errf("%s: key %q: %v", o.where, o.Key, err)
	}
	arch := s.Base.Arch
	if arch == "" {
		arch = model.ArchMask2Former
	}
	steps := s.Base.Steps
	stepsSet, scale := false, 0.0
	var rest []sourced
	var paths [][]string
	for _, o := range ovs {
		path, err := canonicalPath(o.Key)
		if err != nil {
			return rn, keyErr(o, err)
		}
		switch path[0] {
		case keyArch:
			a, ok := o.Value.(string)
			if !ok {
				return rn, keyErr(o, fmt.Errorf("want a string, got %s", describe(o.Value)))
			}
			arch = a
		case keySteps:
			f, ok := number(o.Value)
			if !ok || !limits.AtLeast(1).Contains(f) {
				return rn, keyErr(o, fmt.Errorf("want a positive whole number, got %s", describe(o.Value)))
			}
			steps, stepsSet = int(f), true
		case keyStepsScale:
			f, ok := number(o.Value)
			if !ok || !limits.Positive().Contains(f) {
				return rn, keyErr(o, fmt.Errorf("want a positive fraction of base.steps, got %s", describe(o.Value)))
			}
			scale = f
		default:
			rest = append(rest, o)
			paths = append(paths, path)
		}
	}
	if stepsSet && scale > 0 {
		return rn, s.errf("point %q: steps and steps_scale are both set; give one", p.Name)
	}
	if scale > 0 {
		steps = max(1, int(math.Round(scale*float64(steps))))
	}
	switch arch {
	case model.ArchMaskFormer, model.ArchMask2Former, model.ArchMPFormer:
	default:
		return rn, s.errf("point %q: unknown arch %q (want maskformer, mask2former or mpformer)", p.Name, arch)
	}
	rc, err := run.DefaultConfig(arch, steps, seed)
	if err != nil {
		return rn, s.errf("point %q: %v", p.Name, err)
	}
	ds, err := s.dataSpec()
	if err != nil {
		return rn, err
	}
	val := s.Base.ValImages
	if val == 0 {
		val = 64
	}
	rc.Data = ds
	rc.Val = ds
	rc.Val.Split, rc.Val.N = "val", val
	rc.EvalImages = val
	for i, o := range rest {
		path := paths[i]
		targets := [][]string{path}
		if path[0] == "data" {
			// The validation set follows the training set's data keys.
			targets = append(targets, append([]string{"val"}, path[1:]...))
		}
		for _, t := range targets {
			if t[0] == "model" {
				continue // applied after the dataset's classes, below
			}
			if err := setPath(reflect.ValueOf(&rc), t, o.Value); err != nil {
				return rn, keyErr(o, err)
			}
			if err := checkLimit(t, o.Value); err != nil {
				return rn, keyErr(o, err)
			}
		}
	}
	train, err := r.open(rc.Data)
	if err != nil {
		return rn, s.errf("point %q: training data: %v", p.Name, err)
	}
	if _, err := r.open(rc.Val); err != nil {
		return rn, s.errf("point %q: validation data: %v", p.Name, err)
	}
	rc.Model = model.ConfigForDataset(arch, train)
	for i, o := range rest {
		if paths[i][0] != "model" {
			continue
		}
		if err := setPath(reflect.ValueOf(&rc), paths[i], o.Value); err != nil {
			return rn, keyErr(o, err)
		}
		if err := checkLimit(paths[i], o.Value); err != nil {
			return rn, keyErr(o, err)
		}
	}
	if err := rc.Model.Validate(); err != nil {
		return rn, s.errf("point %q: %v", p.Name, err)
	}
	if rc.Train.Batch <= 0 {
		return rn, s.errf("point %q: batch must be positive", p.Name)
	}
	if rc.CkptEvery <= 0 {
		return rn, s.errf("point %q: ckpt_every must be positive", p.Name)
	}
	rc.Snapshots, rn.Fractions = snapshotSteps(s.Base.Snapshots, steps)
	if err := rc.Validate(); err != nil {
		return rn, s.errf("point %q: %v", p.Name, err)
	}
	rn.Config = rc
	return rn, nil
}

// checkLimit refuses a spec value (a number, or each number of a list)
// outside the range run.Limits gives the setting at path.
func checkLimit(path []string, v any) error {
	r, ok := run.Limits[strings.Join(path, ".")]
	if !ok {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	for i, x := range list {
		f, ok := number(x)
		if !ok {
			continue // assign checked the type
		}
		if err := r.Check(f); err != nil {
			if isList {
				return fmt.Errorf("entry %d: %v: %w", i, x, err)
			}
			return fmt.Errorf("%v: %w", x, err)
		}
	}
	return nil
}
