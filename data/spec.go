package data

import (
	"fmt"
	"sort"
	"sync"
)

// Spec names a dataset and how to build it. It is what the CLI flags, the
// experiment specs and the run manifests hold.
type Spec struct {
	// Kind is the dataset kind: "synthetic" (default), "mnist", "photos"
	// or "coco".
	Kind string `json:"kind"`
	// Split is "train" or "val". Generated kinds use disjoint index ranges
	// for the two splits.
	Split string `json:"split"`
	// Seed fixes generated scenes: sample i of a split is a pure function
	// of (Kind, Seed, Split, i, Size).
	Seed uint64 `json:"seed"`
	// Size is the side of generated square images (default 128).
	Size int `json:"size,omitempty"`
	// N is the number of images; 0 means the kind's default.
	N int `json:"n,omitempty"`
	// Annotations is a COCO instance or panoptic JSON file (coco kind).
	Annotations string `json:"annotations,omitempty"`
	// Images is the directory of the images (coco kind).
	Images string `json:"images,omitempty"`
	// PanopticPNGs is the directory of panoptic PNGs (coco panoptic).
	PanopticPNGs string `json:"panoptic_pngs,omitempty"`
	// SkipInvalid skips (and counts) bad annotations instead of failing.
	SkipInvalid bool `json:"skip_invalid,omitempty"`
	// MaxThings is the most things drawn per generated image (synthetic,
	// mnist, photos) before occlusion; 0 means the kind's default.
	MaxThings int `json:"max_things,omitempty"`
	// ShapeOnly (synthetic) draws every class from the same colour ranges,
	// so only shape and texture tell the classes apart: the harder task.
	// By default each class has a typical hue (see Synthetic).
	ShapeOnly bool `json:"shape_only,omitempty"`
}

// Opener builds a dataset from a spec.
type Opener func(Spec) (Dataset, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes a dataset kind available to Open. Packages that implement
// a kind (data/coco) register it from an init function.
func Register(kind string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[kind]; dup {
		panic("data: kind registered twice: " + kind)
	}
	openers[kind] = open
}

// Kinds lists the registered dataset kinds.
func Kinds() []string {
	openersMu.RLock()
	defer openersMu.RUnlock()
	var k []string
	for n := range openers {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// Open builds the dataset a spec names. An empty Kind means "synthetic".
func Open(s Spec) (Dataset, error) {
	if s.Kind == "" {
		s.Kind = "synthetic"
	}
	if s.Split == "" {
		s.Split = "train"
	}
	openersMu.RLock()
	open, ok := openers[s.Kind]
	openersMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("data: unknown dataset kind %q (have %v)", s.Kind, Kinds())
	}
	return open(s)
}
