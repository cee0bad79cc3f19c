// Package data holds the datasets mpanalyze trains and probes on: built-in
// synthetic panoptic scenes (the default, generated on the fly), MNIST
// scenes, photo cut-out scenes, and COCO-format loaders and exporters.
//
// Every dataset yields Samples with exact instance, semantic and panoptic
// ground truth, and every dataset is deterministic: the same (seed, index)
// always gives the same sample.
package data
