package run

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/mpanalyze/mpanalyze/internal/limits"
)

// Limits are the allowed ranges of the numeric settings of a Config, by
// their dotted key (run.json's JSON names; data.Augment's untagged fields
// in snake case, as experiment specs write them: augment.scale_min).
// Config.Validate refuses a value outside its range (NaN and ±Inf are
// never allowed), so that a run.json, a checkpoint's run config or an
// experiment spec with an impossible value is refused with the key named.
// Checks that involve two settings (hidden divisible by heads, piloted
// layers ≤ layers, ...) stay in model.Config.Validate and friends.
var Limits = map[string]limits.Range{
	"model.image_size":            limits.Ints(32, 4096).Times(32),
	"model.num_classes":           limits.Ints(1, 100000),
	"model.backbone_widths":       limits.Ints(1, 4096),
	"model.backbone_blocks":       limits.Ints(0, 100),
	"model.pixel_dim":             limits.Ints(1, 4096),
	"model.mask_dim":              limits.Ints(1, 4096),
	"model.msdeform.layers":       limits.Ints(1, 100).Or(0, "6"),
	"model.msdeform.heads":        limits.Ints(1, 256).Or(0, "8"),
	"model.msdeform.points":       limits.Ints(1, 64).Or(0, "4"),
	"model.msdeform.ffn":          limits.Ints(1, 16384).Or(0, "4 × pixel_dim"),
	"model.gn_groups":             limits.Ints(1, 4096),
	"model.level_strides":         limits.Ints(4, 32),
	"model.hidden":                limits.Ints(1, 4096),
	"model.ffn":                   limits.Ints(1, 16384),
	"model.heads":                 limits.Ints(1, 256),
	"model.queries":               limits.Ints(1, 1000),
	"model.dec_layers":            limits.Ints(1, 100),
	"model.loss.class_weight":     limits.NonNegative(),
	"model.loss.mask_weight":      limits.NonNegative(),
	"model.loss.dice_weight":      limits.NonNegative(),
	"model.loss.match_class":      limits.NonNegative(),
	"model.loss.match_mask":       limits.NonNegative(),
	"model.loss.match_dice":       limits.NonNegative(),
	"model.loss.no_object_weight": limits.NonNegative(),
	"model.loss.points":           limits.AtLeast(0),
	"model.loss.oversample":       limits.Reals(1, 100),
	"model.loss.importance":       limits.Reals(0, 1),
	"model.mp.groups":             limits.Ints(1, 100),
	"model.mp.pilot_layers":       limits.Ints(0, 100),
	"model.mp.noise_ratio":        limits.NonNegative(),
	"model.mp.scale_prob":         limits.Reals(0, 1),
	"model.mp.label_noise":        limits.Reals(0, 1),

	"train.steps":                         limits.AtLeast(1),
	"train.batch":                         limits.Ints(1, 4096),
	"train.seed":                          limits.Any(),
	"train.schedule.base_lr":              limits.NonNegative(),
	"train.schedule.steps":                limits.AtLeast(0),
	"train.schedule.gamma":                limits.NonNegative(),
	"train.schedule.max_iter":             limits.AtLeast(0),
	"train.schedule.poly_power":           limits.NonNegative(),
	"train.schedule.poly_constant_ending": limits.NonNegative(),
	"train.schedule.warmup_iters":         limits.AtLeast(0),
	"train.schedule.warmup_factor":        limits.NonNegative(),
	"train.adamw.beta1":                   {Min: 0, Max: 1, MaxOpen: true},
	"train.adamw.beta2":                   {Min: 0, Max: 1, MaxOpen: true},
	"train.adamw.eps":                     limits.NonNegative(),
	"train.adamw.weight_decay":            limits.NonNegative(),
	"train.clip_norm":                     limits.NonNegative(),
	"train.grad_slots":                    limits.Ints(0, 1024),

	"data.seed":       limits.Any(),
	"data.size":       limits.Ints(32, 4096).Or(0, "128"),
	"data.n":          limits.AtLeast(0),
	"data.max_things": limits.Ints(0, 100),
	"val.seed":        limits.Any(),
	"val.size":        limits.Ints(32, 4096).Or(0, "128"),
	"val.n":           limits.AtLeast(0),
	"val.max_things":  limits.Ints(0, 100),

	"augment.scale_min": limits.Reals(0, 100),
	"augment.scale_max": limits.Reals(0, 100),

	"eval_every":  limits.AtLeast(0),
	"eval_images": limits.AtLeast(0),
	"ckpt_every":  limits.AtLeast(0),
	"snapshots":   limits.AtLeast(1),
}

// LimitError is a setting outside its range.
type LimitError struct {
	Key   string // dotted key, as in Limits
	Index int    // position in a list setting, −1 for a single value
	Value float64
	Range limits.Range
}

func (e *LimitError) Error() string {
	key := e.Key
	if e.Index >= 0 {
		key = fmt.Sprintf("%s[%d]", e.Key, e.Index)
	}
	return fmt.Sprintf("%s %s: %v", key, formatValue(e.Value), e.Range.Check(e.Value))
}

func formatValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}

// CheckLimits returns a *LimitError for the first numeric setting (in
// field order) outside its range in Limits.
func (rc *Config) CheckLimits() error {
	var first error
	WalkNumbers(rc, func(key string, index int, v float64) {
		if first != nil {
			return
		}
		if r, ok := Limits[key]; ok && !r.Contains(v) {
			first = &LimitError{Key: key, Index: index, Value: v, Range: r}
		}
	})
	return first
}

// WalkNumbers calls f for every number in the config (every element of a
// list or array, with its index; −1 for single values), with its dotted
// key as Limits names it.
func WalkNumbers(rc *Config, f func(key string, index int, v float64)) {
	walkNumbers(reflect.ValueOf(rc).Elem(), "", f)
}

func walkNumbers(v reflect.Value, key string, f func(string, int, float64)) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name := fieldKey(t.Field(i))
			if name == "" {
				continue
			}
			if key != "" {
				name = key + "." + name
			}
			walkNumbers(v.Field(i), name, f)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if x, ok := number(v.Index(i)); ok {
				f(key, i, x)
			}
		}
	default:
		if x, ok := number(v); ok {
			f(key, -1, x)
		}
	}
}

func number(v reflect.Value) (float64, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint()), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	}
	return 0, false
}

// fieldKey is a field's JSON name; untagged fields (data.Augment's) in
// snake case; "" for fields JSON leaves out.
func fieldKey(sf reflect.StructField) string {
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
