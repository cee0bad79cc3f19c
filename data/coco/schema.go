package coco

import (
	"bytes"

	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/mpanalyze/mpanalyze/data"
)

// The JSON shapes of COCO instance and panoptic files, as read. Optional or
// ambiguous fields are kept raw and checked by Open so that each problem
// gets its own error.

type fileJSON struct {
	Images      []imageJSON      `json:"images"`
	Annotations []annotationJSON `json:"annotations"`
	Categories  []categoryJSON   `json:"categories"`
}

type imageJSON struct {
	ID       *data.ImageID `json:"id"`
	FileName string        `json:"file_name"`
	Height   int           `json:"height"`
	Width    int           `json:"width"`
}

type categoryJSON struct {
	ID            *int     `json:"id"`
	Name          string   `json:"name"`
	Supercategory string   `json:"supercategory,omitempty"`
	IsThing       flagJSON `json:"isthing"`
	Color         []int    `json:"color"`
}

// annotationJSON is the union of an instance annotation and a panoptic
// annotation (file_name + segments_info).
type annotationJSON struct {
	ID           *int            `json:"id"`
	ImageID      *data.ImageID   `json:"image_id"`
	CategoryID   *int            `json:"category_id"`
	Segmentation json.RawMessage `json:"segmentation"`
	IsCrowd      flagJSON        `json:"iscrowd"`
	Area         *float64        `json:"area"`
	FileName     string          `json:"file_name"`
	SegmentsInfo *[]segmentJSON  `json:"segments_info"`
}

type segmentJSON struct {
	ID         *int     `json:"id"`
	CategoryID *int     `json:"category_id"`
	IsCrowd    flagJSON `json:"iscrowd"`
	Area       *float64 `json:"area"`
}

// rleJSON is an RLE segmentation: counts is a compressed string or an
// array of integers.
type rleJSON struct {
	Size   []int           `json:"size"`
	Counts json.RawMessage `json:"counts"`
}

// flagJSON is a 0/1 field (isthing, iscrowd), kept raw so that a bad value is
// reported with the id of the item that holds it. Files write it as a
// number or a boolean.
type flagJSON json.RawMessage

func (f *flagJSON) UnmarshalJSON(b []byte) error {
	*f = append((*f)[:0], b...)
	return nil
}

// value is the flag's value: def when absent or null, 1 for true and
// non-zero integers, 0 for false and 0.
func (f flagJSON) value(name string, def bool) (bool, error) {
	switch string(bytes.TrimSpace(f)) {
	case "", "null":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	var v float64
	if err := json.Unmarshal(f, &v); err != nil || v != math.Trunc(v) {
		return false, fmt.Errorf("%s is %s, want 0, 1, true or false", name, f)
	}
	return v != 0, nil
}

// jsonError turns a decoder error into ErrMalformedJSON with the line and
// column of the offending byte.
func jsonError(file string, raw []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return newErr(file, ErrMalformedJSON, "").wrap(err)
	}
	if off > int64(len(raw)) {
		off = int64(len(raw))
	}
	line := 1 + bytes.Count(raw[:off], []byte{'\n'})
	col := int(off) - bytes.LastIndexByte(raw[:off], '\n')
	return newErr(file, ErrMalformedJSON, "line %d, column %d", line, col).wrap(err)
}
