package parallel

import (
	"runtime"
	"sync"
)

// For runs f(i) for every i in [0, n) on up to workers goroutines; workers
// ≤ 0 means GOMAXPROCS. With one worker (or n ≤ 1) it runs the iterations
// in order on the caller's goroutine. If an iteration panics, For waits for
// the running iterations, starts no new one and panics with the first
// recovered value.
func For(n, workers int, f func(i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers == 1 || n <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		next     int
		panicked any
	)
	for w := 0; w < min(workers, n); w++ {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					if panicked == nil {
						panicked = r
					}
					next = n // hand out nothing more
					mu.Unlock()
				}
			}()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
}
