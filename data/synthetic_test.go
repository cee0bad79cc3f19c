package data

import (
	"testing"
)

func TestSyntheticScenes(t *testing.T) {
	checkGenerated(t, "synthetic", 200)
}

func TestSyntheticConfig(t *testing.T) {
	ds, err := NewSynthetic(SyntheticConfig{Size: 96, MaxThings: 2, N: 50})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 50 || len(ds.Categories()) != len(syntheticThings)+len(syntheticStuff) {
		t.Fatalf("len %d, %d categories", ds.Len(), len(ds.Categories()))
	}
	for i := 0; i < ds.Len(); i++ {
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		checkSample(t, "synthetic-96", s, ds.Categories(), generatedRules(96).MinArea)
		things := 0
		for _, in := range s.Instances {
			if in.IsThing {
				things++
			}
		}
		if s.H != 96 || things > 2 {
			t.Fatalf("sample %d: size %d, %d things (max 2)", i, s.H, things)
		}
	}
	if _, err := ds.Sample(50); err == nil {
		t.Fatal("index 50 of 50 accepted")
	}
	if _, err := NewSynthetic(SyntheticConfig{MaxThings: -1}); err == nil {
		t.Fatal("negative MaxThings accepted")
	}
	d := ds.Describe()
	if d["kind"] != "synthetic" || d["size"] != 96 || d["split"] != "train" {
		t.Fatalf("Describe = %v", d)
	}
}

func TestShapesInsideUnitCircle(t *testing.T) {
	// Every shape stays within its extent in local coordinates
	// (drawShape's bounding box relies on it), and the centre of filled
	// shapes is inside.
	for class := range syntheticThings {
		sh := shape{class: class, p1: 0.45, p2: 0.8}
		switch class {
		case shRing:
			sh.p1 = 0.6
		case shCross:
			sh.p1 = 0.3
		}
		for iu := -30; iu <= 30; iu++ {
			for iv := -30; iv <= 30; iv++ {
				u, v := float64(iu)/20, float64(iv)/20
				if e := sh.extent(); sh.inside(u, v) && u*u+v*v > e*e+1e-9 {
					t.Fatalf("%s: (%g, %g) inside but beyond the extent %g", syntheticThings[class], u, v, e)
				}
			}
		}
		centreIn := sh.inside(0, 0.01)
		if wantHole := class == shRing || class == shCrescent; centreIn == wantHole {
			t.Errorf("%s: centre inside = %v", syntheticThings[class], centreIn)
		}
	}
}

func BenchmarkSyntheticSample(b *testing.B) {
	ds, err := NewSynthetic(SyntheticConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := ds.Sample(i % ds.Len()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMNISTSample(b *testing.B) {
	ds, err := NewMNIST(MNISTConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := ds.Sample(i % ds.Len()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPhotosSample(b *testing.B) {
	ds, err := NewPhotos(PhotosConfig{})
	if err != nil {
		b.Skip(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := ds.Sample(i % ds.Len()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMakeBatch16x128(b *testing.B) {
	ds, err := NewSynthetic(SyntheticConfig{})
	if err != nil {
		b.Fatal(err)
	}
	l, _ := NewLoader(ds, 16, BatchConfig{Size: 128, Augment: Augment{Flip: true, ScaleMin: 0.75, ScaleMax: 1.5}, Workers: 1})
	for k := 0; b.Loop(); k++ {
		if _, err := l.Batch(k); err != nil {
			b.Fatal(err)
		}
	}
}
