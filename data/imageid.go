package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ImageID is a COCO image id as its file writes it: COCO's own files use
// integers (139), the COCO-panoptic conversions of ADE20K
// ("ADE_val_00000001") and Cityscapes ("frankfurt_000000_000294") use
// strings, and the reference evaluators match predictions to images by
// equality of the two. The value is the id's canonical JSON text (an
// integer's digits, or a quoted string), so that it is written back as it
// was read; "" means no id.
type ImageID string

// IntImageID is the id of an integer.
func IntImageID(n int) ImageID { return ImageID(strconv.Itoa(n)) }

// StringImageID is the id of a string.
func StringImageID(s string) ImageID {
	b, _ := json.Marshal(s)
	return ImageID(b)
}

// String is the id for people: the integer or the string, unquoted.
func (id ImageID) String() string {
	if strings.HasPrefix(string(id), `"`) {
		var s string
		if json.Unmarshal([]byte(id), &s) == nil {
			return s
		}
	}
	return string(id)
}

// Int returns the id as an integer, with ok false for a string id.
func (id ImageID) Int() (n int, ok bool) {
	n, err := strconv.Atoi(string(id))
	return n, err == nil
}

// MarshalJSON writes the id as it was read.
func (id ImageID) MarshalJSON() ([]byte, error) {
	if id == "" {
		return []byte("null"), nil
	}
	return []byte(id), nil
}

// UnmarshalJSON accepts an integer (written without a fraction or with a
// zero one, 139 or 139.0) or a string.
func (id *ImageID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = StringImageID(s)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return fmt.Errorf("image id %s is neither an integer nor a string", b)
	}
	*id = IntImageID(int(f))
	return nil
}

// Compare orders ids: integers by value before strings, strings by text.
func (id ImageID) Compare(o ImageID) int {
	a, aok := id.Int()
	b, bok := o.Int()
	switch {
	case aok && bok:
		return a - b
	case aok:
		return -1
	case bok:
		return 1
	}
	return strings.Compare(string(id), string(o))
}
