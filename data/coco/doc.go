// Package coco reads and writes COCO-format segmentation data: instance
// files (instances_*.json: polygons, compressed or uncompressed RLE) and
// panoptic files (panoptic_*.json plus one id PNG per image), as the
// dataset kind "coco" of package data, and exports any data.Dataset and
// model predictions in the formats pycocotools and panopticapi score.
//
// # Opening
//
// Import the package for its side effect and call data.Open with Kind
// "coco", or call Open directly for a *Dataset with COCO extras (Load,
// ImageInfo, Skipped):
//
//	import _ "github.com/mpanalyze/mpanalyze/data/coco"
//	ds, err := data.Open(data.Spec{Kind: "coco",
//		Annotations: "annotations/panoptic_val2017.json",
//		Images:      "val2017",
//		PanopticPNGs: "annotations/panoptic_val2017"}) // empty for an instance file
//
// # Conventions
//
//   - Class k is the k-th entry of the file's categories list, whatever its
//     COCO id; data.Category.ID keeps the COCO id. isthing is read when
//     present (0/1 or true/false) and defaults to thing, so an
//     instance-only file is all things.
//   - Samples are the images in file order (Spec.N keeps the first N).
//   - Instance files: annotations are painted in file order, later ones on
//     top, so where masks overlap the later annotation wins in Panoptic,
//     Semantic and the data.Instance masks. Crowd annotations (iscrowd 1)
//     paint void (data.Void in Semantic, 0 in Panoptic) in the same order.
//     All annotations of one stuff class in an image form one segment.
//     Segment ids are 1, 2, ... in order of creation; segments left
//     without pixels are dropped. Images without annotations are kept,
//     all void.
//   - Panoptic files: Panoptic holds the PNG ids (id = R + 256·G + 256²·B
//     for an RGB PNG; a grey or palette PNG gives its value, as PIL and
//     panopticapi's rgb2id read it) with 0 and crowd segments void; a
//     second segment of a stuff class takes the first one's id.
//   - Image ids are kept as the file writes them (data.ImageID): integers
//     in COCO's files, strings in the ADE20K and Cityscapes panoptic
//     conversions. Category ids may be any integers, 0 included (ADE20K).
//   - Sample.Annotations (from Dataset.Load) keep every annotation or
//     segment as it is in the file, crowd regions included and flagged
//     (IsCrowd), with its own mask and the data.Instance ID it became.
//   - Masks are mask bit sets (row-major); COCO RLE is column-major
//     and starts with a run of zeros. EncodeRLE/DecodeRLE convert.
//
// # Scoring (Truth, OpenTruth, results readers)
//
// Sample is what a model trains on: crowd regions are void there, never
// objects (as Mask2Former's dataset mappers keep only segments with
// iscrowd 0 as targets). Truth (data.Truth) is what the reference tools
// score against: the file's ids with crowd segments flagged, each
// annotation's own mask and its "area" field. OpenTruth opens a ground
// truth without images for scoring; ReadInstanceResults and
// OpenPanopticResults read predictions made by any tool in the formats
// pycocotools' COCO.loadRes and panopticapi's pq_compute read, with their
// rules for unknown images, categories and ids. TruthWriter writes a Truth
// back as COCO files; ResultsWriter writes predictions.
//
// # Errors
//
// Every problem with a file is an *Error naming the file, the image,
// annotation or segment id, and a Kind sentinel (ErrMalformedJSON,
// ErrMissingImage, ErrPolygonOutside, ErrRLECounts, ErrUnknownCategory,
// ErrPanopticIDs, ErrSizeMismatch, ...) for errors.Is. Spec.SkipInvalid
// drops bad annotations, segments and images instead and counts them in
// Describe; nothing is dropped silently. Open checks the JSON, every kept
// annotation and every image and PNG header; pixel content (a panoptic
// PNG's ids) is checked when a sample is loaded.
//
// # Differences from pycocotools and panopticapi
//
//   - Polygons are rasterised bit-for-bit as pycocotools' rleFrPoly does
//     (see PolygonRLE), and an annotation's polygons are merged by union
//     as annToRLE does. A polygon needs ≥ 3 points; pycocotools would read
//     a first polygon of exactly 4 numbers as a box [x, y, w, h] and fail
//     on fewer, here both are ErrMalformed. Vertices more than 1 px
//     outside the image are ErrPolygonOutside; pycocotools clips them.
//   - RLE counts that do not add up to H·W are ErrRLECounts; pycocotools
//     decodes them past (or short of) the mask's end without a word.
//   - pycocotools evaluates each annotation's own mask, overlaps and all;
//     data.Sample resolves overlaps (later wins). Sample.Annotations keep
//     the un-occluded masks for code that needs COCO's view.
//   - The panoptic id checks are pq_compute's (PNG ids absent from
//     segments_info and segments absent from the PNG are errors);
//     segments_info area and bbox are not read back (they are recomputed
//     on export).
//   - RGB comes from Go's image/jpeg, whose IDCT and chroma upsampling may
//     differ from libjpeg (PIL) by a level or two; masks are unaffected.
//
// # Export
//
// ExportInstances (thing categories only, as COCO's instance files) and
// ExportPanoptic write a data.Dataset's ground truth (images as PNG);
// TruthWriter does the same one image at a time, and ResultsWriter writes
// predictions (COCO instance results, panoptic PNGs and JSON) one image at
// a time. Output is deterministic (fixed field order, ids in dataset
// order) and every file is written atomically.
package coco
