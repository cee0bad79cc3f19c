package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Bar reports progress of Total units of work to W.
type Bar struct {
	W     io.Writer
	Label string
	Total int
	// Lines is the number of plain lines printed over the run when W is
	// not a terminal (default 20).
	Lines int
	tty   bool
	base  int // units done before this bar started (a resumed run)
	start time.Time
	last  int // last line-mode bucket printed
	drawn time.Time
}

// New returns a bar writing to w; it detects a terminal by the file mode.
func New(w io.Writer, label string, total int) *Bar {
	b := &Bar{W: w, Label: label, Total: total, Lines: 20, start: time.Now(), last: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	return b
}

// From says that the work starts at done units (a resumed run), so that
// the rate and the time left count only the units done since New.
func (b *Bar) From(done int) *Bar {
	if b != nil {
		b.base = done
	}
	return b
}

// Update reports done units and a free-form status (loss, speed).
func (b *Bar) Update(done int, status string) {
	if b == nil || b.W == nil {
		return
	}
	elapsed := time.Since(b.start)
	eta := ""
	if done > b.base && done < b.Total {
		rem := time.Duration(float64(elapsed) / float64(done-b.base) * float64(b.Total-done))
		eta = " eta " + rem.Round(time.Second).String()
	}
	if b.tty {
		if done < b.Total && time.Since(b.drawn) < 100*time.Millisecond {
			return
		}
		b.drawn = time.Now()
		const width = 28
		fill := 0
		if b.Total > 0 {
			fill = width * done / b.Total
		}
		fmt.Fprintf(b.W, "\r%s [%s%s] %d/%d %s%s\x1b[K", b.Label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, b.Total, status, eta)
		if done >= b.Total {
			fmt.Fprintln(b.W)
		}
		return
	}
	lines := max(b.Lines, 1)
	bucket := 0
	if b.Total > 0 {
		bucket = done * lines / b.Total
	}
	if bucket == b.last && done < b.Total {
		return
	}
	b.last = bucket
	fmt.Fprintf(b.W, "%s %d/%d %s (%s%s)\n", b.Label, done, b.Total, status, elapsed.Round(time.Second), eta)
}
