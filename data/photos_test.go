package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tuxPaint returns the Tux Paint directory, or skips when it is absent
// (a developer machine without the packages; CI installs them).
func tuxPaint(t *testing.T) string {
	t.Helper()
	dir := TuxPaintDir()
	if _, err := os.Stat(filepath.Join(dir, "stamps")); err != nil {
		t.Skipf("skipping: no Tux Paint stamps in %s (%s)", dir, TuxPaintPackages)
	}
	return dir
}

func TestPhotoIndex(t *testing.T) {
	ix, err := loadPhotoIndex(tuxPaint(t))
	if err != nil {
		t.Fatal(err)
	}
	// docs/data-sources.md#tux-paint-stamps counts about 240 photographic
	// stamps outside /cartoon/; this index also drops mirrors and a few
	// unclassed ones (237 on 2026-12-01).
	if ix.nStamps < 180 || ix.nStamps > 300 {
		t.Errorf("%d stamps, want about 240", ix.nStamps)
	}
	seen := map[string]int{}
	for sp := 0; sp < 2; sp++ {
		for c, list := range ix.stamps[sp] {
			if len(list) == 0 {
				t.Errorf("class %q has no %s stamps", photoClasses[c].name, []string{"train", "val"}[sp])
			}
			for _, st := range list {
				if prev, dup := seen[st.hash]; dup {
					t.Errorf("stamp %s appears twice (splits %d and %d)", st.rel, prev, sp)
				}
				seen[st.hash] = sp
				l := st.levels[0]
				if strings.Contains(st.rel, "cartoon/") || st.class != c || max(l.w, l.h) > maxStampSide {
					t.Errorf("stamp %s: class %d (list %d), %d×%d", st.rel, st.class, c, l.w, l.h)
				}
			}
		}
		if len(ix.templates[sp]) == 0 {
			t.Errorf("no %d-split templates", sp)
		}
	}
	// 19 templates (docs/data-sources.md#tux-paint-stamps): every fifth is
	// val, 3 of them.
	if n := len(ix.templates[0]) + len(ix.templates[1]); n != 19 || len(ix.templates[1]) != 3 {
		t.Errorf("%d templates, %d val; want 19 and 3", n, len(ix.templates[1]))
	}
}

func TestPhotoScenes(t *testing.T) {
	tuxPaint(t)
	checkGenerated(t, "photos", 200)
}

func TestPhotosMissingDir(t *testing.T) {
	_, err := NewPhotos(PhotosConfig{Dir: filepath.Join(t.TempDir(), "nothing")})
	if err == nil || !strings.Contains(err.Error(), TuxPaintPackages) {
		t.Fatalf("error %v should say %q", err, TuxPaintPackages)
	}
}

func TestPhotosCorruptStamp(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "stamps", "animals", "birds", "bad.png")
	os.MkdirAll(filepath.Dir(bad), 0o755)
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := NewPhotos(PhotosConfig{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "png") {
		t.Fatalf("error %v should name %s and the PNG problem", err, bad)
	}
}
