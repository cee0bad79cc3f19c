"""Bytes per image of a COCO-size trace written by the Python recorder, in
each layout: the numbers of docs/own-model.md's storage table.

    cd python && python3 tests/measure_storage.py [--images 4] [--out DIR]

A COCO-size Mask2Former (Swin/R50, COCO panoptic): 100 queries, 9 decoder
layers (10 stages), 133 classes; a 640x427 image resized to 800x1199
(ResizeShortestEdge 800, max 1333) and padded to 800x1216
(size_divisibility 32): mask logits 200x304 at stride 4, feature levels
25x38, 50x76, 100x152. The masks are generated like BenchmarkAnalyzeCOCO's
(probes/coco_bench_test.go): each query has one to three star-shaped blobs
(30 % none) whose centre and radii jitter from stage to stage, less in later
stages; logits +-2; 15 GT segments, the last stage's masks of 15 queries.
Each layout is written through the adapter path (Recorder.add_image: the
image's padding cropped, matchings by scipy) in the image's own frame
(200x304 cells) and in a frame for every COCO image (1344x1344 pixels,
336x336 cells).
"""

import argparse
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import mpanalyze_trace as mt  # noqa: E402

S, Q, K, G = 10, 100, 133, 15
IMAGE = (800, 1199)   # the resized image
PADDED = (800, 1216)  # the padded input
LEVELS = [(25, 38), (50, 76), (100, 152)]


def image_outputs(g):
    """Class logits [S, Q, K+1], mask logits [S, Q, 200, 304] and the GT
    (classes, masks at the image's pixels) of one generated image."""
    H, W = PADDED[0] // 4, PADDED[1] // 4
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    blobs = []
    for _ in range(Q):
        if float(torch.rand(1, generator=g)) < 0.3:
            blobs.append([])
            continue
        n = 1 + int(torch.randint(0, 3, (1,), generator=g))
        blobs.append([(torch.rand(6, generator=g) * torch.tensor([H, W, 60, 90, 6, 0.2]) + torch.tensor([0, 0, 5, 5, 0, 0.1])).tolist()
                      for _ in range(n)])
    masks = torch.zeros(S, Q, H, W, dtype=torch.bool)
    for s in range(S):
        j = 0.15 * (S - s) / S
        for q, bs in enumerate(blobs):
            for cy, cx, ry, rx, ph, amp in bs:
                n = torch.randn(4, generator=g).tolist()
                cy2, cx2 = cy + n[0] * ry * j, cx + n[1] * rx * j
                ry2, rx2 = max(1.0, ry * (1 + n[2] * j)), max(1.0, rx * (1 + n[3] * j))
                dy, dx = (yy - cy2) / ry2, (xx - cx2) / rx2
                r = 1 + amp * torch.sin(3 * torch.atan2(dy, dx) + ph)
                masks[s, q] |= dy * dy + dx * dx <= r * r
    logits = torch.where(masks, torch.tensor(2.0), torch.tensor(-2.0))
    cls = torch.randn(S, Q, K + 1, generator=g)
    final = torch.randperm(Q, generator=g)[:G]
    gt = masks[S - 1, final].repeat_interleave(4, 1).repeat_interleave(4, 2)[:, :IMAGE[0], :IMAGE[1]]
    return cls, logits, torch.randint(0, K, (G,), generator=g), gt


def write(path, images, frame, **kw):
    with mt.TraceWriter(path, {"model": "mask2former", "dataset": {"kind": "measure_storage.py"}}, matchings="scipy", **kw) as w:
        rec = mt.Recorder(w, frame=frame)
        for i, (cls, logits, gc, gm) in enumerate(images):
            rec.add_image(i, cls, logits, IMAGE, feature_sizes=LEVELS, gt_classes=gc, gt_masks=gm)
    return os.path.getsize(w.npz_path), os.path.getsize(w.json_path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--out", default=None, help="directory for the traces (default: a temporary one, removed)")
    a = ap.parse_args()
    g = torch.Generator().manual_seed(1)
    images = [image_outputs(g) for _ in range(a.images)]
    layouts = [("full, float32 logits", {}), ("full, float16 logits", {"float16": True}),
               ("compact, stored", {"compact": True}), ("compact, deflated", {"compact": True, "compress": True})]
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or tmp
        print("| layout | frame | bytes per image (npz + sidecar) | COCO val2017 (5,000 images) |")
        print("|---|---|---|---|")
        for frame, fname in ((None, "200x304 (the image's own)"), ((1344, 1344), "336x336 (any COCO image)")):
            for name, kw in layouts:
                path = os.path.join(out, "coco_%s_%s" % (name.split(",")[0], "".join(c for c in name.split(",")[1] if c.isalnum())))
                path += "_own" if frame is None else "_1344"
                npz, side = write(path, images, frame, **kw)
                per = (npz + side) / a.images
                print("| %s | %s | %s | %s |" % (name, fname, "{:,.0f}".format(per), human(per * 5000)))
                if not a.out:
                    os.remove(path + ".npz")
                    os.remove(path + ".json")


def human(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return "%.1f %s" % (n, unit) if unit != "B" else "%d B" % n
        n /= 1000
    return str(n)


if __name__ == "__main__":
    main()
