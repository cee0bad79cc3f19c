package npz

import (
	"bytes"
	"encoding/binary"
	"io"
)

// zipEndIntact reports whether a zip archive that archive/zip could not
// open still ends where its end-of-central-directory record says it does,
// so that its directory is damaged rather than cut short. A file cut short
// loses its end record; a full-length file keeps it in its last 22 bytes
// (the record of a zip without a comment, which Save and numpy write):
// either the record's signature is there, or (a damaged signature) its
// directory size and offset add up to exactly where the record starts and
// a directory entry starts at that offset. PKWARE APPNOTE.TXT 4.3.16 and
// 4.3.12 give the layouts.
func zipEndIntact(r io.ReaderAt, size int64) bool {
	const endLen = 22
	if size < endLen {
		return false
	}
	var end [endLen]byte
	if _, err := r.ReadAt(end[:], size-endLen); err != nil {
		return false
	}
	if bytes.Equal(end[:4], []byte("PK\x05\x06")) {
		return true
	}
	dirSize := int64(binary.LittleEndian.Uint32(end[12:16]))
	dirOff := int64(binary.LittleEndian.Uint32(end[16:20]))
	if dirSize == 0 || dirOff+dirSize != size-endLen {
		return false
	}
	var sig [4]byte
	if _, err := r.ReadAt(sig[:], dirOff); err != nil {
		return false
	}
	return bytes.Equal(sig[:], []byte("PK\x01\x02"))
}
