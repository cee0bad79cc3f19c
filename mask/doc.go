// Package mask is the binary mask type shared by the data, model, probes and
// metrics rooms: H×W pixels, row-major, bit-packed into 64-bit words so that
// areas, intersections and unions are popcounts.
//
// Bit i of the mask (word i/64, bit i%64) is pixel (y, x) with i = y·W + x.
// Bits beyond H·W in the last word are always zero.
package mask
