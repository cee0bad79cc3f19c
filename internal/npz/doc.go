// Package npz reads and writes NumPy .npz archives: zip files whose entries
// are .npy arrays named "<name>.npy", as numpy.savez (stored entries) and
// numpy.savez_compressed (deflated entries) write them, so that np.load
// opens what this package writes. It is the one container of model/ckpt
// (checkpoints) and probes (decoder traces); each adds its own array policy
// (which names, dtypes and shapes) and its own error context on top.
//
// # Writing
//
// Writer writes entries one after the other, each started by Create with
// its .npy header (internal/npy) and then filled by the caller, so that an
// array can be streamed without being held in memory. Every entry gets the
// same modification time (the zip epoch, 1980-01-01), so equal content gives
// byte-identical files.
//
// # Reading
//
// NewReader opens an archive and lists its entries; Entry.Open parses an
// entry's .npy header, checks the entry's size against it before anything
// is allocated, and returns a reader of the data. Array.Finish reads to the
// end of the entry, which makes archive/zip verify its CRC-32. Errors wrap
// ErrNotNPZ, ErrTruncated or ErrCorrupt; nothing panics on a damaged file.
package npz
