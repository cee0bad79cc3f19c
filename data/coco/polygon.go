package coco

import (
	"math"
	"sort"
)

// PolygonRLE rasterises one polygon xy = [x0, y0, x1, y1, ...] (pixel
// coordinates: pixel (y, x) covers [x, x+1) × [y, y+1)) on an h×w grid the
// way pycocotools' rleFrPoly does, and returns its RLE.
//
// The algorithm, re-derived from maskApi.c:
//
//  1. Scale the vertices by 5 and round (C cast of v·5 + 0.5, which
//     truncates toward zero).
//  2. Walk every edge (the last vertex joins the first) and emit one
//     integer point per step along its longer axis, rounding the other
//     coordinate; points run from the edge's start to its end.
//  3. Wherever two consecutive points differ in x (by one scaled unit,
//     from xmin to xmin + 1), the boundary crosses scaled x = xmin + ½. If
//     that is the centre line x = c + ½ of a pixel column c (xmin = 5c + 2)
//     with 0 ≤ c < w, the crossing toggles column c at row
//     ceil((ymin + ½)/5 − ½) clamped to [0, h], where ymin is the smaller
//     scaled y of the two points.
//  4. Sort the toggle positions (column-major, c·h + row), turn them into
//     run lengths, and drop pairs of toggles at the same position.
//
// So a pixel is set when its centre is inside the polygon, with ties on an
// edge decided by the rounding above. The result is bit-identical to
// pycocotools for the same input, except for one case C leaves undefined:
// a zero-length edge (two equal consecutive scaled vertices) divides 0 by
// 0; its single point never changes x, so no output depends on it, and
// here it is given the edge's own y.
//
// Vertices far outside the grid are clipped (step 3 ignores columns outside
// [0, w) and clamps rows), as in pycocotools. Coordinates must be finite,
// and time and memory grow with the perimeter (5 points per pixel of edge
// length), so callers that read untrusted files check the bounds first
// (Open rejects vertices more than 1 px outside the image).
func PolygonRLE(xy []float64, h, w int) RLE {
	if len(xy)/2 == 0 {
		return RLE{H: h, W: w, Counts: []int{h * w}}
	}
	x, y := scaledVertices(xy)
	u, v := boundaryPoints(x, y)
	toggles := columnToggles(u, v, h, w)
	return RLE{H: h, W: w, Counts: togglesToCounts(toggles, h*w)}
}

// polygonScale is the factor by which PolygonRLE upsamples the grid.
const polygonScale = 5

// scaledVertices is step 1 of PolygonRLE: the k vertices scaled by 5 and
// rounded, with the first repeated at the end (index k) to close the
// polygon.
func scaledVertices(xy []float64) (x, y []int) {
	k := len(xy) / 2
	x = make([]int, k+1)
	y = make([]int, k+1)
	for j := 0; j < k; j++ {
		x[j] = int(polygonScale*xy[2*j] + .5)
		y[j] = int(polygonScale*xy[2*j+1] + .5)
	}
	x[k], y[k] = x[0], y[0]
	return x, y
}

// boundaryPoints is step 2 of PolygonRLE: the dense boundary points u (x)
// and v (y) of the closed polygon x, y, one per step along each edge's
// longer axis.
func boundaryPoints(x, y []int) (u, v []int) {
	k := len(x) - 1
	n := 0
	for j := 0; j < k; j++ {
		n += max(abs(x[j]-x[j+1]), abs(y[j]-y[j+1])) + 1
	}
	u = make([]int, 0, n)
	v = make([]int, 0, n)
	for j := 0; j < k; j++ {
		xs, xe, ys, ye := x[j], x[j+1], y[j], y[j+1]
		dx, dy := abs(xe-xs), abs(ye-ys)
		flip := (dx >= dy && xs > xe) || (dx < dy && ys > ye)
		if flip {
			xs, xe = xe, xs
			ys, ye = ye, ys
		}
		switch {
		case dx == 0 && dy == 0:
			u = append(u, xs)
			v = append(v, ys)
		case dx >= dy:
			s := float64(ye-ys) / float64(dx)
			for d := 0; d <= dx; d++ {
				t := d
				if flip {
					t = dx - d
				}
				u = append(u, t+xs)
				// float64(...) forbids fusing s*t+ys into an FMA, which
				// C's double arithmetic does not do either.
				v = append(v, int(float64(ys)+float64(s*float64(t))+.5))
			}
		default:
			s := float64(xe-xs) / float64(dy)
			for d := 0; d <= dy; d++ {
				t := d
				if flip {
					t = dy - d
				}
				v = append(v, t+ys)
				u = append(u, int(float64(xs)+float64(s*float64(t))+.5))
			}
		}
	}
	return u, v
}

// columnToggles is step 3 of PolygonRLE: the positions (column-major,
// c·h + row) where the boundary u, v crosses the centre line of a pixel
// column of the h×w grid.
func columnToggles(u, v []int, h, w int) []int {
	a := make([]int, 0, 16)
	for j := 1; j < len(u); j++ {
		if u[j] == u[j-1] {
			continue
		}
		xd := float64(u[j] - 1)
		if u[j] < u[j-1] {
			xd = float64(u[j])
		}
		xd = (xd+.5)/polygonScale - .5
		if math.Floor(xd) != xd || xd < 0 || xd > float64(w-1) {
			continue
		}
		yd := float64(min(v[j], v[j-1]))
		yd = (yd+.5)/polygonScale - .5
		if yd < 0 {
			yd = 0
		} else if yd > float64(h) {
			yd = float64(h)
		}
		yd = math.Ceil(yd)
		a = append(a, int(xd)*h+int(yd))
	}
	return a
}

// togglesToCounts is step 4 of PolygonRLE: the toggle positions of a grid
// of n pixels, sorted, as run lengths, with pairs of toggles at one
// position dropped. It reuses a.
func togglesToCounts(a []int, n int) []int {
	a = append(a, n)
	sort.Ints(a)
	p := 0
	for j := range a {
		t := a[j]
		a[j] -= p
		p = t
	}
	counts := []int{a[0]}
	for j := 1; j < len(a); {
		if a[j] > 0 {
			counts = append(counts, a[j])
			j++
			continue
		}
		// A zero run: two toggles at one position cancel; fold the next
		// run into the previous one.
		j++
		if j < len(a) {
			counts[len(counts)-1] += a[j]
			j++
		}
	}
	return counts
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
