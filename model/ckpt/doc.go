// Package ckpt reads and writes mpanalyze checkpoints: model parameters,
// optimiser state and training metadata in one .npz file that numpy opens
// with np.load.
//
// # Layout
//
// A checkpoint is a zip archive (uncompressed entries, sorted by name, as
// numpy.savez writes) of .npy arrays:
//
//	adam_m/<param name>.npy  float32, the parameter's shape: AdamW exp_avg
//	adam_v/<param name>.npy  float32, the parameter's shape: AdamW exp_avg_sq
//	meta.json.npy            uint8, 1-D: the UTF-8 JSON document Meta
//	param/<param name>.npy   float32, the parameter's shape: its values
//
// plus any other float32 arrays a caller puts in Checkpoint.Arrays. Arrays
// are little-endian ('<f4'), C order, .npy format 1.0 with the header
// padded to 64 bytes.
//
// meta.json holds {"format": "mpanalyze-checkpoint/1", "tool_version",
// "step", "model", "train", "rng", "optimizer", "extra"}: see Meta. RNG
// states are four 16-digit hex strings per generator. extra.arrays lists
// every array with its shape (ArrayListKey), so that a damaged entry name
// is told from a checkpoint of another model.
//
// # Reading from Python
//
//	import json, numpy as np
//	f = np.load("model.ckpt.npz")
//	meta = json.loads(f["meta.json"].tobytes())
//	w = f["param/decoder.layers.0.cross.q.weight"]   # np.float32 array
//	params = {k[len("param/"):]: f[k] for k in f.files if k.startswith("param/")}
//
// # Errors
//
// Load never panics on a bad file: it returns one error naming the file,
// the entry and the cause, which wraps one of ErrNotNPZ, ErrTruncated,
// ErrCorrupt (including a CRC-32 mismatch), ErrNoMeta, ErrMeta or ErrDType.
// ErrTruncated means the file ends early (its zip end record is gone); a
// full-length file whose directory or end record is damaged, or whose
// array names disagree with meta.json's list, is ErrCorrupt.
// GetParams and GetAdamW add ErrMissing, ErrShape and ErrUnexpected.
//
// # Unknown arrays
//
// Load keeps every float32 array in the file. GetParams(prefix, ps) and
// GetAdamW reject arrays under their own prefix that match no parameter
// (ErrUnexpected: almost always a checkpoint of another model
// configuration), and ignore arrays under other prefixes, which belong to
// other readers.
package ckpt
