package probes

import (
	"bufio"
	"fmt"
	"runtime"
	"sync"

	"github.com/mpanalyze/mpanalyze/metrics"
)

// Analyze scores the trace's images (the first maxImages when > 0) and
// returns what Replay into an Evaluator would report, bit for bit, faster:
// each image is decoded straight to what the stage metrics need (binary
// masks, packed attention masks of a compact trace, matchings, GT masks;
// no float logits are kept and no class logits are read, except to compute
// missing matchings), and workers goroutines (≤ 0: GOMAXPROCS) decode and
// score images concurrently while the figures are pooled in image order,
// so the report does not depend on the number of workers. An error names
// the first image, in trace order, that could not be read.
func (r *TraceReader) Analyze(maxImages, workers int) (Report, error) {
	return r.analyze(maxImages, workers, nil)
}

// AnalyzeImages is Analyze that also returns every image's sums and counts
// of every per-stage figure (metrics.ImageFigures, over the query set
// set), in trace order: pooled over any multiset of the images they give
// that multiset's figures (a bootstrap over images).
func (r *TraceReader) AnalyzeImages(maxImages, workers int, set metrics.QuerySet) (Report, []metrics.ImageFigures, error) {
	var per []metrics.ImageFigures
	rep, err := r.analyze(maxImages, workers, func(li *metrics.LayerImage, ai *metrics.AttnImage) {
		per = append(per, metrics.NewImageFigures(li, ai, set))
	})
	if err != nil {
		return Report{}, nil, err
	}
	return rep, per, nil
}

// analyze is Analyze, calling each (when not nil) with every image's
// figures in trace order as they are pooled.
func (r *TraceReader) analyze(maxImages, workers int, each func(*metrics.LayerImage, *metrics.AttnImage)) (Report, error) {
	var ev Evaluator
	if err := ev.Init(r.Info()); err != nil {
		return Report{}, err
	}
	n := len(r.imgs)
	if maxImages > 0 && maxImages < n {
		n = maxImages
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	if r.zr == nil {
		return Report{}, fmt.Errorf("probes: trace %s: %w", r.npzPath, ErrClosed)
	}

	// Image k's result goes to slot k; a worker may run at most `ahead`
	// images past the one being pooled, which bounds the memory held.
	results := make([]chan scored, n)
	for k := range results {
		results[k] = make(chan scored, 1)
	}
	ahead := 4 * workers
	tickets := make(chan struct{}, ahead)
	for range ahead {
		tickets <- struct{}{}
	}
	next := make(chan int)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(nil, 1<<16)
			var a arena
			for k := range next {
				a.reset()
				results[k] <- r.scoreImage(k, br, &a)
			}
		}()
	}
	go func() {
		defer close(next)
		for k := 0; k < n; k++ {
			select {
			case <-tickets:
			case <-stop:
				return
			}
			select {
			case next <- k:
			case <-stop:
				return
			}
		}
	}()
	var err error
	for k := 0; k < n && err == nil; k++ {
		res := <-results[k]
		tickets <- struct{}{}
		if res.err != nil {
			err = res.err
			break
		}
		ev.addImage(res.layer, res.attn)
		if each != nil {
			each(res.layer, res.attn)
		}
	}
	close(stop)
	wg.Wait()
	if err != nil {
		return Report{}, err
	}
	return ev.Report(), nil
}

// scored is one image's figures, or the error that stopped it.
type scored struct {
	layer *metrics.LayerImage
	attn  *metrics.AttnImage
	err   error
}

// scoreImage reads image k in the analysis form, its masks from a, and
// computes its figures (which do not keep the masks).
// A panic of the metrics (an inconsistent image the reader let through)
// becomes an error.
func (r *TraceReader) scoreImage(k int, br *bufio.Reader, a *arena) (res scored) {
	defer func() {
		if p := recover(); p != nil {
			res.err = traceErr(r.npzPath, imgPrefix(r.imgs[k].info.Index), ErrTraceCorrupt, nil, "cannot score the image: %v", p)
		}
	}()
	im, err := r.image(k, needs{masks: true, arena: a}, br)
	if err != nil {
		res.err = err
		return res
	}
	res.layer = metrics.NewLayerImage(im.ImageStages())
	res.attn = metrics.NewAttnImage(im.AttnStages())
	return res
}
