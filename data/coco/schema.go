package coco

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	ID       *int   `json:"id"`
	FileName string `json:"file_name"`
	Height   int    `json:"height"`
	Width    int    `json:"width"`
}

type categoryJSON struct {
	ID            *int     `json:"id"`
	Name          string   `json:"name"`
	Supercategory string   `json:"supercategory,omitempty"`
	IsThing       *flexInt `json:"isthing"`
	Color         []int    `json:"color"`
}

// annotationJSON is the union of an instance annotation and a panoptic
// annotation (file_name + segments_info).
type annotationJSON struct {
	ID           *int            `json:"id"`
	ImageID      *int            `json:"image_id"`
	CategoryID   *int            `json:"category_id"`
	Segmentation json.RawMessage `json:"segmentation"`
	IsCrowd      flexInt         `json:"iscrowd"`
	FileName     string          `json:"file_name"`
	SegmentsInfo *[]segmentJSON  `json:"segments_info"`
}

type segmentJSON struct {
	ID         *int    `json:"id"`
	CategoryID *int    `json:"category_id"`
	IsCrowd    flexInt `json:"iscrowd"`
}

// rleJSON is an RLE segmentation: counts is a compressed string or an
// array of integers.
type rleJSON struct {
	Size   []int           `json:"size"`
	Counts json.RawMessage `json:"counts"`
}

// flexInt accepts 0/1 numbers and true/false (files differ in how they
// write isthing and iscrowd).
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "true":
		*f = 1
		return nil
	case "false", "null":
		*f = 0
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New("want a number or a boolean, got " + string(b))
	}
	if v != math.Trunc(v) {
		return fmt.Errorf("want an integer, got %v", v)
	}
	*f = flexInt(v)
	return nil
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
