package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/mpanalyze/mpanalyze/internal/parallel"

	"github.com/mpanalyze/mpanalyze/internal/rng"
)

// Photo cut-out scenes ("cut, paste and learn"): real photographs of
// objects with an alpha channel, Debian's tuxpaint-stamps-default, pasted
// with random scale and flip onto real background photographs, the Tux
// Paint templates of tuxpaint-data. Masks are alpha ≥ 128.
//
// The images are GPL-2 and are never part of this repository: they are
// read from the installed packages (/usr/share/tuxpaint, or
// $MPANALYZE_TUXPAINT_DIR).
//
// Stamps. Every PNG under stamps/ is a candidate except paths containing
// /cartoon/ and the *_mirror.png copies (random flips make them redundant,
// and they would leak across the split). A candidate must look like a
// photograph: at least 5 % fully transparent pixels and at least 500
// distinct 15-bit colours among the others. Byte-identical files are kept
// once (the first path in sorted order).
//
// Classes. The thing classes are the stamp folders grouped into 13 classes
// with 6–46 stamps each (photoClasses); the folders with fewer than four
// photographic stamps and no natural home (clothes, people, naturalforces,
// non-vehicle military) are left out. There is one stuff class,
// "background", for every pixel no stamp covers: the template photos are
// whole scenes (a lighthouse on a cliff, trees against the sky), so any
// finer stuff labelling of them would be a guess.
//
// Split. Within each class the stamps are ordered by content hash and
// every fifth one (positions 4, 9, …) is a val stamp; likewise every fifth
// template by name is a val background. Train and val scenes therefore
// show different object photographs and different backgrounds.

// TuxPaintDirEnv names the environment variable that overrides the Tux
// Paint data directory (default /usr/share/tuxpaint).
const TuxPaintDirEnv = "MPANALYZE_TUXPAINT_DIR"

// TuxPaintPackages is the install command the photos kind needs.
const TuxPaintPackages = "apt-get install tuxpaint-stamps-default tuxpaint-data"

// photoClasses maps stamp folders (relative to stamps/) to thing classes.
var photoClasses = []struct {
	name    string
	folders []string
}{
	{"mammal", []string{"animals/mammals/", "animals/marsupials/"}},
	{"bird", []string{"animals/birds/"}},
	{"small animal", []string{"animals/insects/", "animals/fish/", "animals/shellfish/", "animals/amphibians/"}},
	{"fruit & veg", []string{"food/"}},
	{"plant", []string{"plants/"}},
	{"vehicle", []string{"vehicles/", "military/vehicles/"}},
	{"household", []string{"household/", "medical/"}},
	{"hobby", []string{"hobbies/"}},
	{"seasonal", []string{"seasonal/"}},
	{"sport", []string{"sports/"}},
	{"coin", []string{"symbols/money/"}},
	{"town", []string{"town/"}},
	{"space", []string{"space/"}},
}

// maxStampSide is the longest side a stamp is kept at in memory: scenes
// paste a stamp at most 55 % of the image side, so 384 serves images up to
// about 700 pixels without upsampling.
const maxStampSide = 384

// stamp is one photographic cut-out in memory.
type stamp struct {
	rel   string // path relative to stamps/
	hash  string // sha256 of the file
	class int
	// levels[0] is the stamp cropped to alpha > 0 and shrunk to at most
	// maxStampSide; each next level halves the previous one, down to a
	// side of 8. Pixels are straight (non-premultiplied) RGBA.
	levels []rgbaLevel
}

type rgbaLevel struct {
	w, h int
	pix  []uint8 // w·h·4
}

// photoTemplate is one background photograph: levels[0] at full size,
// each next level halving the previous one (opaque RGBA), down to a side
// of 64.
type photoTemplate struct {
	name   string
	hash   string
	levels []rgbaLevel
}

// photoIndex is everything the photos kind reads from disk, built once per
// directory per process.
type photoIndex struct {
	dir       string
	stamps    [2][][]*stamp // [split][class] → stamps (0 train, 1 val)
	templates [2][]*photoTemplate
	nStamps   int
	stampSum  string // sha256 over "rel hash" lines of all kept stamps
	tmplSum   string
}

var (
	photoMu    sync.Mutex
	photoCache = map[string]*photoIndex{}
)

// TuxPaintDir returns the Tux Paint data directory: $MPANALYZE_TUXPAINT_DIR
// or /usr/share/tuxpaint.
func TuxPaintDir() string {
	if d := os.Getenv(TuxPaintDirEnv); d != "" {
		return d
	}
	return "/usr/share/tuxpaint"
}

// loadPhotoIndex indexes and decodes the stamps and templates under dir,
// once per process.
func loadPhotoIndex(dir string) (*photoIndex, error) {
	photoMu.Lock()
	defer photoMu.Unlock()
	if ix, ok := photoCache[dir]; ok {
		return ix, nil
	}
	ix, err := buildPhotoIndex(dir)
	if err != nil {
		return nil, err
	}
	photoCache[dir] = ix
	return ix, nil
}

func photoClassOf(rel string) int {
	for c, pc := range photoClasses {
		for _, f := range pc.folders {
			if strings.HasPrefix(rel, f) {
				return c
			}
		}
	}
	return -1
}

// buildPhotoIndex reads the stamps and the background templates under
// dir and splits each into train and val.
func buildPhotoIndex(dir string) (*photoIndex, error) {
	stampDir := filepath.Join(dir, "stamps")
	tmplDir := filepath.Join(dir, "templates")
	for _, d := range []string{stampDir, tmplDir} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("data: photos: Tux Paint images not found (no directory %s): install them with `%s` or set %s", d, TuxPaintPackages, TuxPaintDirEnv)
		}
	}
	ix := &photoIndex{dir: dir}
	if err := ix.indexStamps(stampDir); err != nil {
		return nil, err
	}
	if err := ix.indexTemplates(tmplDir); err != nil {
		return nil, err
	}
	return ix, nil
}

// listStamps returns the stamp files under stampDir that belong to a
// photo class (no cartoons, no mirror images), relative to it, sorted.
func listStamps(stampDir string) ([]string, error) {
	var rels []string
	err := filepath.WalkDir(stampDir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || !strings.HasSuffix(p, ".png") {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, stampDir+string(filepath.Separator)))
		if strings.Contains("/"+rel, "/cartoon/") || strings.HasSuffix(rel, "_mirror.png") || photoClassOf(rel) < 0 {
			return nil
		}
		rels = append(rels, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data: photos: list %s: %w", stampDir, err)
	}
	sort.Strings(rels)
	return rels, nil
}

// indexStamps decodes the photographic stamps (in parallel; the result
// depends only on the files), drops duplicates by content, and splits
// each class's stamps, ordered by hash, into train and val.
func (ix *photoIndex) indexStamps(stampDir string) error {
	rels, err := listStamps(stampDir)
	if err != nil {
		return err
	}
	cand := make([]*stamp, len(rels))
	errs := make([]error, len(rels))
	parallel.For(len(rels), runtime.GOMAXPROCS(0), func(i int) {
		cand[i], errs[i] = loadStamp(stampDir, rels[i])
	})
	for s := range ix.stamps {
		ix.stamps[s] = make([][]*stamp, len(photoClasses))
	}
	seen := map[string]bool{}
	perClass := make([][]*stamp, len(photoClasses))
	sum := sha256.New()
	for i, st := range cand {
		if errs[i] != nil {
			return errs[i]
		}
		if st == nil || seen[st.hash] {
			continue
		}
		seen[st.hash] = true
		perClass[st.class] = append(perClass[st.class], st)
		fmt.Fprintf(sum, "%s %s\n", st.rel, st.hash)
		ix.nStamps++
	}
	ix.stampSum = hex.EncodeToString(sum.Sum(nil))
	for c, list := range perClass {
		if len(list) < 2 {
			return fmt.Errorf("data: photos: class %q has %d photographic stamps under %s (need 2: one train, one val); is %s the Debian tuxpaint-stamps-default layout?", photoClasses[c].name, len(list), stampDir, ix.dir)
		}
		sort.Slice(list, func(a, b int) bool { return list[a].hash < list[b].hash })
		for j, st := range list {
			ix.stamps[splitOfPosition(j, len(list))][c] = append(ix.stamps[splitOfPosition(j, len(list))][c], st)
		}
	}
	return nil
}

// indexTemplates decodes the background photos (in parallel) and splits
// them, in name order, into train and val.
func (ix *photoIndex) indexTemplates(tmplDir string) error {
	names, err := filepath.Glob(filepath.Join(tmplDir, "*.jpg"))
	if err != nil || len(names) < 2 {
		return fmt.Errorf("data: photos: need at least 2 background photos %s/*.jpg, found %d: install them with `%s`", tmplDir, len(names), TuxPaintPackages)
	}
	sort.Strings(names)
	tmpls := make([]*photoTemplate, len(names))
	terrs := make([]error, len(names))
	parallel.For(len(names), runtime.GOMAXPROCS(0), func(i int) { tmpls[i], terrs[i] = loadTemplate(names[i]) })
	tsum := sha256.New()
	for j, t := range tmpls {
		if terrs[j] != nil {
			return terrs[j]
		}
		fmt.Fprintf(tsum, "%s %s\n", t.name, t.hash)
		sp := splitOfPosition(j, len(tmpls))
		ix.templates[sp] = append(ix.templates[sp], t)
	}
	ix.tmplSum = hex.EncodeToString(tsum.Sum(nil))
	return nil
}

// splitOfPosition is 1 (val) for every fifth item of a list (positions 4,
// 9, …), and for the last item of a list too short to have one.
func splitOfPosition(j, n int) int {
	if j%5 == 4 || (n < 5 && j == n-1) {
		return 1
	}
	return 0
}

// loadStamp decodes one stamp and applies the photo test; it returns nil
// (and no error) for a stamp that is not photo-like.
func loadStamp(stampDir, rel string) (*stamp, error) {
	path := filepath.Join(stampDir, filepath.FromSlash(rel))
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: photos: read %s: %w", path, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("data: photos: decode %s: %w", path, err)
	}
	w, h, pix := toNRGBA(img)
	if w == 0 || h == 0 {
		return nil, nil
	}
	transparent, nColours := 0, 0
	var colours [1 << 15]bool
	x0, y0, x1, y1 := w, h, 0, 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := pix[(y*w+x)*4:]
			if p[3] == 0 {
				transparent++
				continue
			}
			if c := int(p[0]>>3)<<10 | int(p[1]>>3)<<5 | int(p[2]>>3); !colours[c] {
				colours[c] = true
				nColours++
			}
			x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
		}
	}
	if transparent*20 < w*h || nColours < 500 {
		return nil, nil
	}
	sum := sha256.Sum256(b)
	st := &stamp{rel: rel, hash: hex.EncodeToString(sum[:]), class: photoClassOf(rel)}
	// Crop to the opaque part, then shrink to maxStampSide.
	cw, ch := x1-x0, y1-y0
	crop := make([]uint8, cw*ch*4)
	for y := 0; y < ch; y++ {
		copy(crop[y*cw*4:(y+1)*cw*4], pix[((y+y0)*w+x0)*4:((y+y0)*w+x1)*4])
	}
	lv := rgbaLevel{cw, ch, crop}
	if k := float64(maxStampSide) / float64(max(cw, ch)); k < 1 {
		nw, nh := max(1, int(math.Round(float64(cw)*k))), max(1, int(math.Round(float64(ch)*k)))
		lv = rgbaLevel{nw, nh, resizeRGBA(crop, cw, ch, nw, nh, false)}
	}
	st.levels = append(st.levels, lv)
	for lv.w >= 16 && lv.h >= 16 {
		var next rgbaLevel
		next.pix, next.w, next.h = shrinkHalf(lv.pix, lv.w, lv.h)
		st.levels = append(st.levels, next)
		lv = next
	}
	return st, nil
}

// loadTemplate decodes one background JPEG and builds its pyramid.
func loadTemplate(path string) (*photoTemplate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: photos: read %s: %w", path, err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("data: photos: decode %s: %w", path, err)
	}
	w, h, pix := toNRGBA(img)
	if w < 16 || h < 16 {
		return nil, fmt.Errorf("data: photos: decode %s: image %d×%d is too small for a background", path, w, h)
	}
	for i := 3; i < len(pix); i += 4 {
		pix[i] = 255
	}
	sum := sha256.Sum256(b)
	t := &photoTemplate{name: filepath.Base(path), hash: hex.EncodeToString(sum[:])}
	lv := rgbaLevel{w, h, pix}
	t.levels = append(t.levels, lv)
	for lv.w >= 128 && lv.h >= 128 {
		var next rgbaLevel
		next.pix, next.w, next.h = shrinkHalf(lv.pix, lv.w, lv.h)
		t.levels = append(t.levels, next)
		lv = next
	}
	return t, nil
}

// toNRGBA converts an image to straight-alpha RGBA bytes.
func toNRGBA(img image.Image) (w, h int, pix []uint8) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	pix = make([]uint8, w*h*4)
	switch m := img.(type) {
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			copy(pix[y*w*4:(y+1)*w*4], m.Pix[y*m.Stride:y*m.Stride+w*4])
		}
	case *image.Paletted:
		pal := make([][4]uint8, len(m.Palette))
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [4]uint8{n.R, n.G, n.B, n.A}
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				ci := int(m.Pix[y*m.Stride+x])
				if ci < len(pal) {
					copy(pix[(y*w+x)*4:], pal[ci][:])
				}
			}
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := m.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				p := pix[(y*w+x)*4:]
				p[0], p[1], p[2], p[3] = r, g, bb, 255
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				n := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				p := pix[(y*w+x)*4:]
				p[0], p[1], p[2], p[3] = n.R, n.G, n.B, n.A
			}
		}
	}
	return w, h, pix
}

// resizeRGBA resamples a straight-alpha RGBA image from sw×sh to dw×dh.
// It first halves the source (2×2 alpha-weighted means) while it is at
// least twice the destination, then averages the footprint of each
// destination pixel with a k×k grid of bilinear samples (k =
// ⌈source pixels per destination pixel⌉ ≤ 2, or up to 6 for very
// elongated shrinks), alpha-weighted so that transparent pixels do not
// bleed their colour. flip mirrors the result horizontally.
func resizeRGBA(src []uint8, sw, sh, dw, dh int, flip bool) []uint8 {
	for sw >= 2*dw && sh >= 2*dh {
		src, sw, sh = shrinkHalf(src, sw, sh)
	}
	dst := make([]uint8, dw*dh*4)
	fx, fy := float64(sw)/float64(dw), float64(sh)/float64(dh)
	kx, ky := min(max(int(math.Ceil(fx)), 1), 6), min(max(int(math.Ceil(fy)), 1), 6)
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			var acc [4]float64
			for j := 0; j < ky; j++ {
				v := (float64(y)+(float64(j)+0.5)/float64(ky))*fy - 0.5
				for i := 0; i < kx; i++ {
					u := (float64(x)+(float64(i)+0.5)/float64(kx))*fx - 0.5
					s := bilinearRGBA(src, sw, sh, u, v)
					acc[0] += s[0] * s[3]
					acc[1] += s[1] * s[3]
					acc[2] += s[2] * s[3]
					acc[3] += s[3]
				}
			}
			dx := x
			if flip {
				dx = dw - 1 - x
			}
			p := dst[(y*dw+dx)*4:]
			if acc[3] > 0 {
				p[0], p[1], p[2] = clampByte(acc[0]/acc[3]), clampByte(acc[1]/acc[3]), clampByte(acc[2]/acc[3])
			}
			p[3] = clampByte(acc[3] / float64(kx*ky))
		}
	}
	return dst
}

// shrinkHalf halves a straight-alpha RGBA image: each output pixel is the
// alpha-weighted mean of a 2×2 block (the last row or column repeats for
// odd sizes).
func shrinkHalf(src []uint8, w, h int) ([]uint8, int, int) {
	w2, h2 := (w+1)/2, (h+1)/2
	dst := make([]uint8, w2*h2*4)
	for y := 0; y < h2; y++ {
		y0, y1 := 2*y, min(2*y+1, h-1)
		for x := 0; x < w2; x++ {
			x0, x1 := 2*x, min(2*x+1, w-1)
			var r, g, b, a uint32
			for _, o := range [4]int{(y0*w + x0) * 4, (y0*w + x1) * 4, (y1*w + x0) * 4, (y1*w + x1) * 4} {
				pa := uint32(src[o+3])
				r += uint32(src[o]) * pa
				g += uint32(src[o+1]) * pa
				b += uint32(src[o+2]) * pa
				a += pa
			}
			p := dst[(y*w2+x)*4:]
			if a > 0 {
				p[0], p[1], p[2] = uint8((r+a/2)/a), uint8((g+a/2)/a), uint8((b+a/2)/a)
			}
			p[3] = uint8((a + 2) / 4)
		}
	}
	return dst, w2, h2
}

// bilinearRGBA samples a straight-alpha RGBA image at (u, v) with pixel
// centres at integers and edge clamping; colour is interpolated with alpha
// weights.
func bilinearRGBA(src []uint8, w, h int, u, v float64) [4]float64 {
	u = math.Min(math.Max(u, 0), float64(w-1))
	v = math.Min(math.Max(v, 0), float64(h-1))
	iu, iv := int(u), int(v)
	fu, fv := u-float64(iu), v-float64(iv)
	iu1, iv1 := min(iu+1, w-1), min(iv+1, h-1)
	p00, p10 := src[(iv*w+iu)*4:(iv*w+iu)*4+4], src[(iv*w+iu1)*4:(iv*w+iu1)*4+4]
	p01, p11 := src[(iv1*w+iu)*4:(iv1*w+iu)*4+4], src[(iv1*w+iu1)*4:(iv1*w+iu1)*4+4]
	a00 := float64(p00[3]) * (1 - fu) * (1 - fv)
	a10 := float64(p10[3]) * fu * (1 - fv)
	a01 := float64(p01[3]) * (1 - fu) * fv
	a11 := float64(p11[3]) * fu * fv
	a := a00 + a10 + a01 + a11
	var out [4]float64
	if a > 0 {
		for c := 0; c < 3; c++ {
			out[c] = (float64(p00[c])*a00 + float64(p10[c])*a10 + float64(p01[c])*a01 + float64(p11[c])*a11) / a
		}
	}
	out[3] = a
	return out
}

// PhotosConfig configures photo cut-out scenes. Zero fields take the
// defaults in their comments.
type PhotosConfig struct {
	Split     string // "train" (default) or "val"; they use disjoint stamps and backgrounds
	Seed      uint64
	Size      int    // image side; default 128
	N         int    // number of images; default 5000 (train) or 500 (val)
	MaxThings int    // most stamps per image (before occlusion); default 4
	Dir       string // Tux Paint data directory; default TuxPaintDir()
}

// Photos is the photo cut-out scene dataset. It is safe for concurrent
// use.
type Photos struct {
	cfg   PhotosConfig
	ix    *photoIndex
	split int
	cats  []Category
}

func init() {
	Register("photos", func(s Spec) (Dataset, error) {
		return NewPhotos(PhotosConfig{Split: s.Split, Seed: s.Seed, Size: s.Size, N: s.N, MaxThings: s.MaxThings})
	})
}

// NewPhotos indexes the Tux Paint images (once per process) and returns
// the scene dataset.
func NewPhotos(cfg PhotosConfig) (*Photos, error) {
	if err := fillGenerated("photos", &cfg.Split, &cfg.Size, &cfg.N, &cfg.MaxThings, 5000, 500, 4); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		cfg.Dir = TuxPaintDir()
	}
	ix, err := loadPhotoIndex(cfg.Dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(photoClasses))
	for i, c := range photoClasses {
		names[i] = c.name
	}
	split := 0
	if cfg.Split == "val" {
		split = 1
	}
	return &Photos{cfg: cfg, ix: ix, split: split, cats: makeCategories(names, []string{"background"})}, nil
}

func (d *Photos) Name() string           { return "photos" }
func (d *Photos) Len() int               { return d.cfg.N }
func (d *Photos) Categories() []Category { return append([]Category(nil), d.cats...) }

// Describe gives the manifest entry, with hashes over the stamps and the
// templates used.
func (d *Photos) Describe() map[string]any {
	return map[string]any{
		"kind": "photos", "generator": "photos-v1", "split": d.cfg.Split, "seed": d.cfg.Seed,
		"size": d.cfg.Size, "n": d.cfg.N, "max_things": d.cfg.MaxThings,
		"dir": d.cfg.Dir, "stamps": d.ix.nStamps, "stamps_sha256": d.ix.stampSum,
		"templates": len(d.ix.templates[0]) + len(d.ix.templates[1]), "templates_sha256": d.ix.tmplSum,
	}
}

// Sample generates scene i.
func (d *Photos) Sample(i int) (*Sample, error) {
	if i < 0 || i >= d.cfg.N {
		return nil, fmt.Errorf("data: photos: index %d out of range [0, %d)", i, d.cfg.N)
	}
	r := sampleRNG(d.cfg.Seed, "photos", globalIndex(d.cfg.Split, i))
	s := d.cfg.Size
	bg := &background{rgb: d.backgroundRGB(r, s), seg: make([]int8, s*s), class: []int{len(photoClasses)}}
	nThings := minThings(d.cfg.MaxThings) + r.IntN(d.cfg.MaxThings-minThings(d.cfg.MaxThings)+1)
	things := make([]sprite, 0, nThings)
	for t := 0; t < nThings; t++ {
		if sp, ok := d.stampSprite(r, s); ok {
			things = append(things, sp)
		}
	}
	smp := compose(i, s, s, bg, things, d.cats, generatedRules(s))
	photometric(r, smp.RGB, 0.08, 8, 0.04, 4)
	return smp, nil
}

// backgroundRGB crops a random square of 50–100 % of a background's short
// side, flips it half of the time and resizes it to s×s (bilinear from
// the pyramid level at most twice the output resolution).
func (d *Photos) backgroundRGB(r *rng.RNG, s int) []uint8 {
	list := d.ix.templates[d.split]
	t := list[r.IntN(len(list))]
	w0, h0 := t.levels[0].w, t.levels[0].h
	side := r.Uniform(0.5, 1) * float64(min(w0, h0))
	x0 := r.Uniform(0, float64(w0)-side)
	y0 := r.Uniform(0, float64(h0)-side)
	flip := r.Bernoulli(0.5)
	lv := t.levels[0]
	for _, l := range t.levels[1:] {
		if side*float64(l.w)/float64(w0) < float64(s) {
			break
		}
		lv = l
	}
	// Crop geometry in the level's pixels.
	kw, kh := float64(lv.w)/float64(w0), float64(lv.h)/float64(h0)
	k := side / float64(s)
	rgb := make([]uint8, s*s*3)
	for y := 0; y < s; y++ {
		v := (y0+(float64(y)+0.5)*k)*kh - 0.5
		for x := 0; x < s; x++ {
			xx := x
			if flip {
				xx = s - 1 - x
			}
			u := (x0+(float64(xx)+0.5)*k)*kw - 0.5
			c := bilinearRGB(lv.pix, 4, lv.w, lv.h, u, v)
			p := (y*s + x) * 3
			rgb[p], rgb[p+1], rgb[p+2] = clampByte(c[0]), clampByte(c[1]), clampByte(c[2])
		}
	}
	return rgb
}

// bilinearRGB samples the first three channels of an image with stride
// bytes per pixel at (u, v) (pixel centres at integers), clamping at the
// edges.
func bilinearRGB(src []uint8, stride, w, h int, u, v float64) [3]float64 {
	u = math.Min(math.Max(u, 0), float64(w-1))
	v = math.Min(math.Max(v, 0), float64(h-1))
	iu, iv := int(u), int(v)
	fu, fv := u-float64(iu), v-float64(iv)
	iu1, iv1 := min(iu+1, w-1), min(iv+1, h-1)
	var out [3]float64
	for c := 0; c < 3; c++ {
		a := float64(src[(iv*w+iu)*stride+c])*(1-fu) + float64(src[(iv*w+iu1)*stride+c])*fu
		b := float64(src[(iv1*w+iu)*stride+c])*(1-fu) + float64(src[(iv1*w+iu1)*stride+c])*fu
		out[c] = a*(1-fv) + b*fv
	}
	return out
}

// stampSprite pastes one random stamp: a class uniformly, a stamp of the
// split uniformly within it, longest side 20–55 % of the image side
// (log-uniform), flipped half of the time, brightness ×[0.9, 1.1].
func (d *Photos) stampSprite(r *rng.RNG, s int) (sprite, bool) {
	class := r.IntN(len(photoClasses))
	list := d.ix.stamps[d.split][class]
	st := list[r.IntN(len(list))]
	fs := float64(s)
	long := math.Exp(r.Uniform(math.Log(0.2), math.Log(0.55))) * fs
	top := st.levels[0]
	k := long / float64(max(top.w, top.h))
	dw, dh := max(1, int(math.Round(float64(top.w)*k))), max(1, int(math.Round(float64(top.h)*k)))
	// The smallest level still at least as large as the paste.
	lv := top
	for _, l := range st.levels[1:] {
		if l.w < dw || l.h < dh {
			break
		}
		lv = l
	}
	flip := r.Bernoulli(0.5)
	gain := r.Uniform(0.9, 1.1)
	cx := r.Uniform(0.3*long, fs-0.3*long)
	cy := r.Uniform(0.3*long, fs-0.3*long)
	px0, py0 := int(math.Round(cx-float64(dw)/2)), int(math.Round(cy-float64(dh)/2))
	x0, y0, x1, y1 := clipRect(px0, py0, px0+dw, py0+dh, s, s)
	if x1 <= x0 || y1 <= y0 {
		return sprite{}, false
	}
	full := resizeRGBA(lv.pix, lv.w, lv.h, dw, dh, flip)
	sp := sprite{class: class, x0: x0, y0: y0, w: x1 - x0, h: y1 - y0}
	sp.alpha = make([]uint8, sp.w*sp.h)
	sp.rgb = make([]uint8, sp.w*sp.h*3)
	for y := 0; y < sp.h; y++ {
		for x := 0; x < sp.w; x++ {
			p := full[((y+y0-py0)*dw+(x+x0-px0))*4:]
			k := y*sp.w + x
			sp.alpha[k] = p[3]
			sp.rgb[3*k] = clampByte(float64(p[0]) * gain)
			sp.rgb[3*k+1] = clampByte(float64(p[1]) * gain)
			sp.rgb[3*k+2] = clampByte(float64(p[2]) * gain)
		}
	}
	return sp, true
}
