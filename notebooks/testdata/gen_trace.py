#!/usr/bin/env python3
"""Writes torch_trace.npz/.json, the trace the imported_trace notebook reads.

It plays the part of a PyTorch Mask2Former: decoder outputs in the official
format ({"pred_logits", "pred_masks", "aux_outputs"}) for 3 images, 3 decoder
layers (stages 0..3), 6 queries, 4 classes, 16x16 mask logits (a 64x64 input
at stride 4), recorded with the recorder (then probes/python/record_trace.py, now the
mpanalyze_trace package in python/) exactly as a hooked
model would be. The masks are made, not learned, so that the notebook has
something to find: in every image each GT segment has an "owner" query whose
mask sharpens stage by stage, and in image 0 segment 1 is first drawn by
query 2, which query 1 takes over at stage 2 (the layer-to-layer
inconsistency the diagnosis measures).

Run from the repository root with numpy and torch (python3-torch):

    python3 notebooks/testdata/gen_trace.py

No matchings are stored (matchings="none"): mpanalyze computes them at read
time with the same cost, as for any trace recorded without scipy.
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from mpanalyze_trace import record  # noqa: E402

S, Q, K, H = 4, 6, 4, 16  # stages, queries, classes, mask side


def rect(y0, y1, x0, x1):
    m = torch.zeros(H, H, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def disc(cy, cx, r):
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(H), indexing="ij")
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


IMAGES = [
    # (GT masks, GT classes, owner query per segment per stage)
    ([rect(2, 8, 2, 9), disc(11, 11, 3)], [0, 2], [[0, 0, 0, 0], [2, 2, 1, 1]]),
    ([rect(9, 15, 1, 15), rect(1, 6, 9, 14), disc(5, 4, 2)], [1, 3, 2], [[3, 3, 3, 3], [4, 4, 4, 4], [5, 0, 0, 0]]),
    ([disc(8, 8, 5)], [3], [[1, 1, 1, 1]]),
]


def outputs(g, masks, classes, owners):
    stages = []
    for s in range(S):
        sharp = 1.0 + 1.5 * s           # masks sharpen with depth
        noise = 2.5 / (1 + s)            # and get less noisy
        logits = noise * torch.randn(Q, H, H, generator=g) - 3.0
        cls = torch.randn(Q, K + 1, generator=g)
        cls[:, K] += 3.0                 # "no object" unless a query owns a segment
        for m, c, own in zip(masks, classes, owners):
            q = own[s]
            logits[q] = sharp * (2.0 * m.float() - 1.0) + noise * torch.randn(H, H, generator=g)
            cls[q, K] -= 6.0
            cls[q, c] += 4.0 + s
        stages.append({"pred_logits": cls[None], "pred_masks": logits[None]})
    return dict(stages[-1], aux_outputs=stages[:-1])


def main():
    g = torch.Generator().manual_seed(7)
    outs, gts = [], []
    for masks, classes, owners in IMAGES:
        outs.append(outputs(g, masks, classes, owners))
        gts.append({"classes": torch.tensor(classes), "masks": torch.stack(masks)})
    info = {"model": "mask2former", "seed": 7, "checkpoint": "",
            "dataset": {"kind": "notebooks/testdata/gen_trace.py", "images": len(IMAGES)},
            "config": {"queries": Q, "classes": K, "layers": S - 1, "note": "made-up outputs, not a trained model"}}
    npz, js = record(os.path.join(HERE, "torch_trace"), outs, gts, info,
                     feature_sizes=[(2, 2), (4, 4), (8, 8)], indices=[10, 11, 12],
                     float16=True, matchings="none")
    print(npz, os.path.getsize(npz), "bytes")
    print(js, os.path.getsize(js), "bytes")


if __name__ == "__main__":
    main()
