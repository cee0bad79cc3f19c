package parallel

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestForRunsEveryIterationOnce(t *testing.T) {
	for _, workers := range []int{-1, 0, 1, 2, 3, 64} {
		for _, n := range []int{0, 1, 2, 7, 100} {
			hits := make([]int32, n)
			For(n, workers, func(i int) { atomic.AddInt32(&hits[i], 1) })
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("workers %d, n %d: iteration %d ran %d times", workers, n, i, h)
				}
			}
		}
	}
}

func TestForReraisesPanicOnCaller(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		func() {
			defer func() {
				if r := recover(); r != "boom 3" {
					t.Errorf("workers %d: recovered %v, want boom 3", workers, r)
				}
			}()
			For(10, workers, func(i int) {
				if i == 3 {
					panic("boom 3")
				}
			})
			t.Errorf("workers %d: For returned normally", workers)
		}()
	}
}

func TestForStopsHandingOutAfterPanic(t *testing.T) {
	var ran atomic.Int32
	func() {
		defer func() { _ = recover() }()
		For(1000, 2, func(i int) {
			ran.Add(1)
			if i == 0 {
				panic("stop")
			}
			time.Sleep(time.Millisecond)
		})
	}()
	// The worker that takes iteration 0 panics at once; the other, at 1 ms
	// per iteration, runs a handful before it sees the stop. Without the
	// stop it would run all 999 others (about a second).
	if n := ran.Load(); n > 500 {
		t.Errorf("%d iterations ran after a panic at the first one", n)
	}
}
