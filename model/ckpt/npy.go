package ckpt

// Every array of a checkpoint is a .npy entry (format 1.0, C order) of the
// shared .npz container internal/npz (headers by internal/npy): parameters
// and AdamW moments as float32, the metadata document as uint8 bytes.
const (
	dtypeF32 = "<f4"
	dtypeU8  = "|u1"
)
