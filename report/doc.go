// Package report builds mpanalyze's HTML report: one self-contained page
// with the verdict, the diagnosis and accuracy tables, every figure, the
// runs' configuration and provenance, and a stage × query mask viewer.
//
// # Data
//
// Data is a typed model of what the page shows. FromResults builds it from
// finished experiment runs (experiments.Load, as `mpanalyze compare` and
// `plot` read them): the verdict of each configuration against the first
// (experiments.Comparison), compare's tables (the same tables.Table values,
// so the page holds the numbers `compare --format json` prints), plot's
// figures (experiments.Results.Figures, as SVG, each with a text
// alternative), each run's manifest, and the viewer of the traces of the
// first seed of each configuration at every traced checkpoint. FromTraces
// builds it from traces (probes.OpenTrace: ours, or recorded from PyTorch):
// each trace's per-stage table (replayed through probes.Evaluator, as
// `analyze` does), its consecutive-IoU and Util-A curves, its run
// information, and the viewer.
//
// # The viewer
//
// For each model (side by side), checkpoint and image, the viewer is a
// grid of decoder stages (columns) × queries (rows: the queries matched to
// a GT segment at the last stage first): each cell is the query's binary
// mask (logit > 0, at the mask resolution, stride 4) over the image, with
// its IoU with the previous stage under it; the GT segment matched at the
// last stage ends the row. The next layer's attention mask and the GT
// outline are overlays; hovering or clicking a cell shows its numbers
// (Cell: class and score, IoU with the previous stage, the last stage and
// the GT, the GT matched at that stage, the share of the map the next layer
// attends to). Rows sort by query, by mean consecutive IoU, or by the IoU
// at the selected stage; the arrow keys move between stages (← →) and
// images (↑ ↓).
//
// Only a bounded number of images is embedded (Settings.MaxImages, the
// first ones the traces have in common); the page says how many of how
// many. The input image is rendered from the dataset the trace records
// (data.Open of its spec, accepted only if the opened dataset describes
// itself exactly as the recorded description) at the model's input size;
// when that fails, masks are drawn over a neutral grey background and the
// page says why.
//
// # The page
//
// Write renders one HTML file with everything inline: the CSS, the SVG
// figures, and the viewer's data and code. Tables, figures and provenance
// are plain HTML and need no script. The viewer's data is one payload:
// JSON (models, checkpoints, images as JPEG data URLs, per-cell numbers in
// thousandths) followed by every mask bit-packed, the whole compressed with
// raw DEFLATE and base64-encoded in a script element (layout in html.go).
// The browser inflates it with DecompressionStream("deflate-raw") (Chrome
// 80, Firefox 113, Safari 16.4) and paints each cell on a canvas when it
// scrolls into view. It marks "viewer-inflated" and "viewer-ready" on the
// page's performance timeline; TestLoadTime (MPANALYZE_REPORT_PAGE=…)
// measures a page's load event and viewer in a headless Chromium.
//
// The viewer is hand-written vanilla JavaScript (assets/viewer.js, about
// 480 lines) rather than a library from npm: it needs a few controls, a
// canvas per cell and a keyboard handler, which a framework would not
// shorten much, and a vendored library would add a build step, a
// dependency to keep up to date and tens of kilobytes to every report. It
// runs as written, with no build step.
//
// Colours are the Okabe–Ito palette of package plots (colour-blind safe):
// the rows take its colours in turn (unlike the mask-evolution figure,
// which draws every mask in one blue for print), low IoUs are bold as well
// as vermillion, and every figure has a text alternative with
// its numbers. The layout works from phone width to wide screens.
//
// The browser tests (report_browser_test.go, cmd/mpanalyze) open pages in
// a headless Chromium through internal/browser; they skip when no Chromium
// is installed, unless MPANALYZE_REQUIRE_BROWSER=1.
package report
