package coco

import (
	"bufio"
	"bytes"
	"errors"
	"image"
	"image/color"
	_ "image/jpeg" // COCO images are JPEG
	"image/png"
	"io"
	"io/fs"
	"os"
)

// maxPixels bounds the image size Open accepts, so that a corrupt size in a
// JSON file or image header cannot make Load allocate without limit.
const maxPixels = 1 << 28

// checkImageFile reports the size in path's header, with ErrMissingImage or
// ErrBadImage on failure. It reads only the header.
func checkImageFile(path string) (h, w int, err error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, 0, newErr(path, ErrMissingImage, "").wrap(err)
		}
		return 0, 0, newErr(path, ErrBadImage, "").wrap(err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		return 0, 0, newErr(path, ErrBadImage, "").wrap(err)
	}
	return cfg.Height, cfg.Width, nil
}

// readImage decodes path after checking that its header says h×w.
func readImage(path string, h, w int) (image.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, newErr(path, ErrMissingImage, "").wrap(err)
		}
		return nil, newErr(path, ErrBadImage, "").wrap(err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, newErr(path, ErrBadImage, "").wrap(err)
	}
	if cfg.Height != h || cfg.Width != w {
		return nil, newErr(path, ErrSizeMismatch, "file is %d×%d (H×W), JSON says %d×%d", cfg.Height, cfg.Width, h, w)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, newErr(path, ErrBadImage, "").wrap(err)
	}
	if b := img.Bounds(); b.Dy() != h || b.Dx() != w {
		return nil, newErr(path, ErrSizeMismatch, "decoded image is %d×%d (H×W), JSON says %d×%d", b.Dy(), b.Dx(), h, w)
	}
	return img, nil
}

// toRGB converts img to H·W·3 interleaved 8-bit RGB. Alpha is dropped
// (the colour channels are taken un-premultiplied), like PIL's
// convert("RGB"); grey images repeat the grey value.
func toRGB(img image.Image) []uint8 {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	out := make([]uint8, 0, h*w*3)
	switch im := img.(type) {
	case *image.RGBA:
		if im.Opaque() {
			for y := 0; y < h; y++ {
				row := im.Pix[y*im.Stride : y*im.Stride+4*w]
				for x := 0; x < w; x++ {
					out = append(out, row[4*x], row[4*x+1], row[4*x+2])
				}
			}
			return out
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := im.Pix[y*im.Stride : y*im.Stride+4*w]
			for x := 0; x < w; x++ {
				out = append(out, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
		return out
	case *image.Gray:
		for y := 0; y < h; y++ {
			for _, g := range im.Pix[y*im.Stride : y*im.Stride+w] {
				out = append(out, g, g, g)
			}
		}
		return out
	case *image.YCbCr:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci := im.YOffset(x, y), im.COffset(x, y)
				r, g, bl := color.YCbCrToRGB(im.Y[yi], im.Cb[ci], im.Cr[ci])
				out = append(out, r, g, bl)
			}
		}
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
			out = append(out, uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8))
		}
	}
	return out
}

// idsFromImage decodes a panoptic PNG into segment ids as panopticapi
// reads it: np.array(Image.open(path), dtype=np.uint32), then rgb2id,
// which computes id = R + 256·G + 256²·B for a 3-channel array (alpha
// ignored) and returns a 2-D array unchanged. So an RGB or RGBA PNG gives
// R + 256·G + 256²·B, while a grey PNG gives its grey value (8 or 16 bit)
// and a palette PNG its palette index, as PIL's "L", "I;16" and "P" modes
// do.
func idsFromImage(img image.Image) []int32 {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	switch im := img.(type) {
	case *image.Gray:
		ids := make([]int32, 0, h*w)
		for y := 0; y < h; y++ {
			for _, v := range im.Pix[y*im.Stride : y*im.Stride+w] {
				ids = append(ids, int32(v))
			}
		}
		return ids
	case *image.Gray16:
		ids := make([]int32, 0, h*w)
		for y := 0; y < h; y++ {
			row := im.Pix[y*im.Stride : y*im.Stride+2*w]
			for x := 0; x < w; x++ {
				ids = append(ids, int32(row[2*x])<<8|int32(row[2*x+1]))
			}
		}
		return ids
	case *image.Paletted:
		ids := make([]int32, 0, h*w)
		for y := 0; y < h; y++ {
			for _, v := range im.Pix[y*im.Stride : y*im.Stride+w] {
				ids = append(ids, int32(v))
			}
		}
		return ids
	}
	rgb := toRGB(img)
	ids := make([]int32, len(rgb)/3)
	for i := range ids {
		ids[i] = int32(rgb[3*i]) | int32(rgb[3*i+1])<<8 | int32(rgb[3*i+2])<<16
	}
	return ids
}

// maxSegmentID is the largest id a 24-bit RGB PNG can hold.
const maxSegmentID = 1<<24 - 1

// writeIDPNG writes ids (H·W, each in [0, 2²⁴)) as an RGB PNG with
// R = id mod 256, G = id/256 mod 256, B = id/256² (panopticapi's id2rgb).
func writeIDPNG(w io.Writer, h, wd int, ids []int32) error {
	img := image.NewRGBA(image.Rect(0, 0, wd, h))
	for i, id := range ids {
		img.Pix[4*i] = uint8(id)
		img.Pix[4*i+1] = uint8(id >> 8)
		img.Pix[4*i+2] = uint8(id >> 16)
		img.Pix[4*i+3] = 255
	}
	return png.Encode(w, img)
}

// writeRGBPNG writes interleaved RGB (H·W·3) as an 8-bit RGB PNG.
func writeRGBPNG(w io.Writer, h, wd int, rgb []uint8) error {
	img := image.NewRGBA(image.Rect(0, 0, wd, h))
	for i := 0; i < h*wd; i++ {
		img.Pix[4*i] = rgb[3*i]
		img.Pix[4*i+1] = rgb[3*i+1]
		img.Pix[4*i+2] = rgb[3*i+2]
		img.Pix[4*i+3] = 255
	}
	return png.Encode(w, img)
}
