package matcher

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func panics(f func()) (b bool) {
	defer func() {
		if recover() != nil {
			b = true
		}
	}()
	f()
	return false
}

// bruteForce enumerates every assignment of min(rows, cols) pairs and returns
// the minimal total, how many assignments reach it exactly, and the first
// optimal rowToCol in enumeration order.
func bruteForce(cost []float64, rows, cols int) (best float64, nBest int, arg []int) {
	best = math.Inf(1)
	cur := make([]int, rows)
	for i := range cur {
		cur[i] = -1
	}
	usedCol := make([]bool, cols)
	pairs := min(rows, cols)
	var rec func(i, paired int, sum float64)
	rec = func(i, paired int, sum float64) {
		if paired == pairs {
			switch {
			case sum < best:
				best, nBest, arg = sum, 1, slices.Clone(cur)
			case sum == best:
				nBest++
			}
			return
		}
		if i == rows || rows-i < pairs-paired {
			return
		}
		for j := 0; j < cols; j++ {
			if usedCol[j] {
				continue
			}
			usedCol[j] = true
			cur[i] = j
			rec(i+1, paired+1, sum+cost[i*cols+j])
			usedCol[j] = false
			cur[i] = -1
		}
		if rows > cols { // row i may stay unpaired
			rec(i+1, paired, sum)
		}
	}
	rec(0, 0, 0)
	return best, nBest, arg
}

// checkValid verifies that exactly min(rows, cols) rows are paired with
// distinct in-range columns.
func checkValid(t *testing.T, name string, got []int, rows, cols int) {
	t.Helper()
	if len(got) != rows {
		t.Fatalf("%s: len %d, want %d", name, len(got), rows)
	}
	seen := make([]bool, cols)
	n := 0
	for i, j := range got {
		if j == -1 {
			continue
		}
		if j < 0 || j >= cols || seen[j] {
			t.Fatalf("%s: row %d has column %d (%v)", name, i, j, got)
		}
		seen[j] = true
		n++
	}
	if n != min(rows, cols) {
		t.Fatalf("%s: %d pairs, want %d (%v)", name, n, min(rows, cols), got)
	}
}

func TestAssignHand(t *testing.T) {
	for i, tc := range []struct {
		rows, cols int
		cost       []float64
		want       []int
		total      float64
	}{
		// scipy.optimize.linear_sum_assignment docstring example:
		// [[4,1,3],[2,0,5],[3,2,2]] → cols [1,0,2], total 1+2+2 = 5.
		{3, 3, []float64{4, 1, 3, 2, 0, 5, 3, 2, 2}, []int{1, 0, 2}, 5},
		// 1×1: the only pair.
		{1, 1, []float64{-7}, []int{0}, -7},
		// 1×4: the cheapest column, 2 at index 2.
		{1, 4, []float64{5, 3, 2, 9}, []int{2}, 2},
		// 4×1: the cheapest row, −1 at row 3; other rows unpaired.
		{4, 1, []float64{5, 3, 2, -1}, []int{-1, -1, -1, 0}, -1},
		// 2×3 [[3,9,1],[1,4,8]]: the six pairings cost 3+4=7, 3+8=11,
		// 9+1=10, 9+8=17, 1+1=2, 1+4=5 → row 0 → col 2, row 1 → col 0, total 2.
		{2, 3, []float64{3, 9, 1, 1, 4, 8}, []int{2, 0}, 2},
		// 3×2: rows 1 and 2 are cheapest on distinct columns: 0 + 0 = 0.
		{3, 2, []float64{1, 1, 0, 5, 5, 0}, []int{-1, 0, 1}, 0},
		// 0×3 and 3×0: nothing to pair.
		{0, 3, nil, []int{}, 0},
		{3, 0, nil, []int{-1, -1, -1}, 0},
	} {
		got := Assign(tc.cost, tc.rows, tc.cols)
		if !slices.Equal(got, tc.want) {
			t.Errorf("case %d: got %v, want %v", i, got, tc.want)
		}
		if tot := TotalCost(tc.cost, tc.cols, got); tot != tc.total {
			t.Errorf("case %d: total %v, want %v", i, tot, tc.total)
		}
	}
}

// TestAssignTies: with all costs equal every full assignment is optimal; the
// scan order must pick the identity for a square matrix (row i takes the
// lowest free column) and be the same on every call.
func TestAssignTies(t *testing.T) {
	for _, sz := range [][2]int{{1, 1}, {3, 3}, {2, 5}, {5, 2}, {4, 4}} {
		r, c := sz[0], sz[1]
		cost := make([]float64, r*c)
		for i := range cost {
			cost[i] = 1.5
		}
		a := Assign(cost, r, c)
		checkValid(t, "ties", a, r, c)
		if b := Assign(cost, r, c); !slices.Equal(a, b) {
			t.Errorf("%d×%d: not deterministic: %v vs %v", r, c, a, b)
		}
		if r == c {
			for i, j := range a {
				if i != j {
					t.Errorf("%d×%d equal costs: got %v, want identity", r, c, a)
					break
				}
			}
		}
		if tot := TotalCost(cost, c, a); tot != 1.5*float64(min(r, c)) {
			t.Errorf("%d×%d: total %v", r, c, tot)
		}
	}
}

// TestAssignBruteForce compares Assign with exhaustive enumeration on many
// random small matrices, square and rectangular, with several cost kinds.
func TestAssignBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []string{"uniform", "smallint", "bigint", "large", "negative"}
	n := 0
	for trial := 0; trial < 3000; trial++ {
		rows, cols := 1+rng.IntN(6), 1+rng.IntN(6)
		kind := kinds[trial%len(kinds)]
		cost := make([]float64, rows*cols)
		for i := range cost {
			switch kind {
			case "uniform":
				cost[i] = rng.Float64()
			case "smallint": // many ties
				cost[i] = float64(rng.IntN(3))
			case "bigint": // integer costs, ties unlikely
				cost[i] = float64(rng.IntN(1_000_000))
			case "large": // large magnitude with small differences
				cost[i] = 1e9 + float64(rng.IntN(1000))
			case "negative":
				cost[i] = -100 * rng.Float64()
			}
		}
		got := Assign(cost, rows, cols)
		checkValid(t, kind, got, rows, cols)
		best, nBest, arg := bruteForce(cost, rows, cols)
		tot := TotalCost(cost, cols, got)
		if math.Abs(tot-best) > 1e-9*math.Max(1, math.Abs(best)) {
			t.Fatalf("trial %d (%s %d×%d): total %v, brute force %v\ncost %v\ngot %v want %v",
				trial, kind, rows, cols, tot, best, cost, got, arg)
		}
		if (kind == "bigint" || kind == "smallint") && nBest == 1 {
			n++
			if !slices.Equal(got, arg) {
				t.Fatalf("trial %d (%s %d×%d): unique optimum %v, got %v", trial, kind, rows, cols, arg, got)
			}
		}
	}
	if n < 500 {
		t.Errorf("only %d trials had a unique integer optimum; test too weak", n)
	}
}

func TestAssignPanics(t *testing.T) {
	for i, f := range []func(){
		func() { Assign([]float64{1, 2, 3}, 2, 2) },
		func() { Assign(nil, -1, 0) },
		func() { Assign([]float64{math.NaN()}, 1, 1) },
		func() { Assign([]float64{math.Inf(1), 0}, 1, 2) },
		func() { Invert([]int{0, 0}, 2) },
		func() { Invert([]int{3}, 2) },
		func() { TotalCost([]float64{1}, 2, []int{0}) },
	} {
		if !panics(f) {
			t.Errorf("case %d did not panic", i)
		}
	}
}

func TestInvert(t *testing.T) {
	// rows 0 and 2 take columns 3 and 0; columns 1, 2 stay free.
	got := Invert([]int{3, -1, 0}, 4)
	if want := []int{2, -1, -1, 0}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
