package matcher

import (
	"fmt"
	"math"
)

// Assign returns a minimum-cost assignment for the rows×cols cost matrix
// (row-major, len(cost) = rows·cols): rowToCol[i] is the column paired with
// row i, or −1 if row i is unpaired. Exactly min(rows, cols) rows are
// paired, each with a distinct column, and Σ_i cost[i·cols + rowToCol[i]]
// over the paired rows is minimal.
//
// The result is deterministic: rows are inserted in increasing index order
// and, when augmenting paths tie, the lowest column index wins. When several
// assignments are optimal, which one is returned is fixed by that scan order
// but it need not be the lexicographically smallest, nor scipy's.
//
// Assign panics if len(cost) ≠ rows·cols, if a size is negative or if a cost
// is NaN or infinite.
func Assign(cost []float64, rows, cols int) (rowToCol []int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("matcher: negative size %d×%d", rows, cols))
	}
	if len(cost) != rows*cols {
		panic(fmt.Sprintf("matcher: cost length %d, want %d×%d", len(cost), rows, cols))
	}
	for _, c := range cost {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			panic("matcher: cost is NaN or infinite")
		}
	}
	rowToCol = make([]int, rows)
	for i := range rowToCol {
		rowToCol[i] = -1
	}
	if rows == 0 || cols == 0 {
		return rowToCol
	}
	if rows <= cols {
		copy(rowToCol, solve(cost, rows, cols))
		return rowToCol
	}
	// More rows than columns: solve the transposed cols×rows problem, in
	// which every column is paired.
	t := make([]float64, len(cost))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = cost[i*cols+j]
		}
	}
	for c, r := range solve(t, cols, rows) {
		rowToCol[r] = c
	}
	return rowToCol
}

// solve is the shortest augmenting path method with row and column
// potentials u, v for an n×m matrix a with n ≤ m. Row i is added to the
// matching by a Dijkstra-like search over reduced costs a[i][j] − u[i] − v[j]
// ≥ 0 from a virtual column 0, then the potentials are updated so that the
// reduced costs stay non-negative and are zero on matched pairs, which
// certifies optimality (linear programming duality). Indices inside are
// 1-based; column 0 is the virtual start. It returns the column of each row.
func solve(a []float64, n, m int) []int {
	inf := math.Inf(1)
	u := make([]float64, n+1)
	v := make([]float64, m+1)
	p := make([]int, m+1)   // p[j]: row matched to column j, 0 = free
	way := make([]int, m+1) // way[j]: previous column on the shortest path to j
	minv := make([]float64, m+1)
	used := make([]bool, m+1)
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		for j := range minv {
			minv[j] = inf
			used[j] = false
		}
		for {
			used[j0] = true
			i0 := p[j0]
			row := a[(i0-1)*m : i0*m]
			delta := inf
			j1 := 0
			for j := 1; j <= m; j++ {
				if used[j] {
					continue
				}
				if cur := row[j-1] - u[i0] - v[j]; cur < minv[j] {
					minv[j] = cur
					way[j] = j0
				}
				if minv[j] < delta {
					delta = minv[j]
					j1 = j
				}
			}
			for j := 0; j <= m; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		// Augment along the path back to the virtual column.
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	colOf := make([]int, n)
	for j := 1; j <= m; j++ {
		if p[j] != 0 {
			colOf[p[j]-1] = j - 1
		}
	}
	return colOf
}

// Invert turns rowToCol (as returned by Assign) into colToRow for cols
// columns: colToRow[j] is the row paired with column j, or −1. It panics if
// an entry is out of range or two rows share a column.
func Invert(rowToCol []int, cols int) (colToRow []int) {
	colToRow = make([]int, cols)
	for j := range colToRow {
		colToRow[j] = -1
	}
	for i, j := range rowToCol {
		if j < 0 {
			continue
		}
		if j >= cols {
			panic(fmt.Sprintf("matcher: row %d paired with column %d of %d", i, j, cols))
		}
		if colToRow[j] != -1 {
			panic(fmt.Sprintf("matcher: column %d paired twice", j))
		}
		colToRow[j] = i
	}
	return colToRow
}

// TotalCost is Σ_i cost[i·cols + rowToCol[i]] over the paired rows.
func TotalCost(cost []float64, cols int, rowToCol []int) float64 {
	if len(cost) != len(rowToCol)*cols {
		panic(fmt.Sprintf("matcher: cost length %d, want %d×%d", len(cost), len(rowToCol), cols))
	}
	s := 0.0
	for i, j := range rowToCol {
		if j >= 0 {
			s += cost[i*cols+j]
		}
	}
	return s
}
