package ckpt

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// ArrayListKey is the key of meta.json's "extra" object that lists every
// array of the file with its shape ({"param/x": [3, 4], ...}). Save writes
// it and Load checks the file's entries against it, so that a damaged
// entry name (the zip directory's names are not covered by the CRC-32 of
// the data) is reported as a damaged file, not as a checkpoint of another
// model. Files without the list (written before it) load unchecked. It is
// kept under "extra" so that readers of earlier versions, which refuse
// unknown top-level keys, still open new files.
const ArrayListKey = "arrays"

// withArrayList returns extra plus the list of arrays (a new map).
func withArrayList(extra map[string]json.RawMessage, arrays map[string]Array) map[string]json.RawMessage {
	out := maps.Clone(extra)
	if out == nil {
		out = map[string]json.RawMessage{}
	}
	list := make(map[string][]int, len(arrays))
	for name, a := range arrays {
		list[name] = a.Shape
		if a.Shape == nil {
			list[name] = []int{}
		}
	}
	b, _ := json.Marshal(list) // map keys sorted: deterministic
	out[ArrayListKey] = b
	return out
}

// checkArrayList compares the arrays read with meta.json's list (when the
// file has one) and removes the list from c.Meta.Extra.
func checkArrayList(c *Checkpoint) error {
	raw, ok := c.Meta.Extra[ArrayListKey]
	if !ok {
		return nil
	}
	delete(c.Meta.Extra, ArrayListKey)
	if len(c.Meta.Extra) == 0 {
		c.Meta.Extra = nil
	}
	var list map[string][]int
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("%w: extra.%s: %w", ErrMeta, ArrayListKey, err)
	}
	var extra, missing []string
	for name := range c.Arrays {
		if _, ok := list[name]; !ok {
			extra = append(extra, name)
		}
	}
	for name, shape := range list {
		a, ok := c.Arrays[name]
		if !ok {
			missing = append(missing, name)
		} else if !slices.Equal(a.Shape, shape) && !(len(a.Shape) == 0 && len(shape) == 0) {
			return fmt.Errorf("%w: entry %q has shape %v but meta.json lists %v (the file is damaged)", ErrCorrupt, name+".npy", a.Shape, shape)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return nil
	}
	slices.Sort(extra)
	slices.Sort(missing)
	msg := "the file's array names disagree with meta.json's list (the file is damaged)"
	if len(extra) > 0 {
		msg += fmt.Sprintf("; not listed: %q", first(extra, 3))
	}
	if len(missing) > 0 {
		msg += fmt.Sprintf("; listed but absent: %q", first(missing, 3))
	}
	return fmt.Errorf("%w: %s", ErrCorrupt, msg)
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… %d more", len(s)-n))
	}
	return s
}

// damagedMetaName returns an entry name that is meta.json.npy with one
// byte changed, when the archive has no meta.json.npy: a damaged name,
// which would otherwise be read as a float32 array of the wrong dtype.
func damagedMetaName(names []string) string {
	want := MetaName + ".npy"
	for _, n := range names {
		if n == want {
			return ""
		}
	}
	for _, n := range names {
		if len(n) != len(want) {
			continue
		}
		diff := 0
		for i := range n {
			if n[i] != want[i] {
				diff++
			}
		}
		if diff == 1 {
			return n
		}
	}
	return ""
}
