// Package npy writes and parses the header of NumPy's .npy array format
// (numpy.lib.format) and encodes the little-endian element types the
// project stores. It is shared by model/ckpt (checkpoints) and probes
// (decoder traces), which add their own dtype policy and error context.
//
// A .npy file is
//
//	"\x93NUMPY" <major> <minor> <header length H> <H bytes of header> <data>
//
// with H a little-endian uint16 in format 1.0 and a uint32 in 2.0 and 3.0
// (3.0 allows UTF-8 in the header). The header is a Python dict literal
// such as "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
// padded with spaces and ended by '\n' so that the data starts at a
// multiple of 64 bytes.
//
// The format is implemented here rather than through
// codeberg.org/sbinet/npyio: npyio writes a Go slice only as a 1-D array
// (n-d shapes only via a 2-D gonum mat.Dense), and its header reader
// slices with unchecked indices (a header without '\n' makes it panic),
// while both callers must turn any bad file into an error.
package npy
