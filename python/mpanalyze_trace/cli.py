"""Command line: ``python3 -m mpanalyze_trace demo OUT`` records random
outputs of a tiny decoder; ``python3 -m mpanalyze_trace convert OUTPUTS.pt
OUT`` records decoder outputs saved with torch.save.

``convert`` reads ``torch.save({"outputs": [...], "gt": [...], "run_info":
{...}, "indices": [...]})`` with one official decoder output dict (batch of
1) per image and gt entries None or {"classes": [G], "masks": [G, H, W]}
(binary, at mask size) or {"classes": [G], "cover": [G, H, W]} (uint8
counts of the covered input pixels of each stride x stride cell,
gt_cover_at_stride). The outputs must all have one mask size: to record
images of several sizes, use the adapters (docs/own-model.md).
"""

import argparse
import sys

import numpy as np
import torch

from .trace import _np, record, stages_from_outputs

def demo_outputs(seed=0, images=2, queries=5, classes=3, size=8, layers=3):
    """Random outputs of a tiny decoder, in the official format, and GT:
    image i has i+1 GT segments, except every third image (none). GT
    coverage counts are random in 0..16; the masks are count >= 8."""
    g = torch.Generator().manual_seed(seed)
    outs, gts = [], []
    for i in range(images):
        stages = [{"pred_logits": torch.randn(1, queries, classes + 1, generator=g),
                   "pred_masks": 3 * torch.randn(1, queries, size, size, generator=g)} for _ in range(layers + 1)]
        out = dict(stages[-1], aux_outputs=stages[:-1])
        outs.append(out)
        if i % 3 == 2:
            gts.append(None)
        else:
            G = i + 1
            cover = torch.randint(0, 17, (G, size, size), generator=g) * (torch.rand(G, size, size, generator=g) < 0.5)
            gts.append({"classes": torch.randint(0, classes, (G,), generator=g),
                        "cover": cover.to(torch.uint8), "masks": cover >= 8})
    return outs, gts


def _sizes(s):
    return [tuple(int(v) for v in p.split("x")) for p in s.split(",")] if s else None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m mpanalyze_trace", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="record random outputs of a tiny decoder")
    d.add_argument("out")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--images", type=int, default=3)
    d.add_argument("--queries", type=int, default=5)
    d.add_argument("--classes", type=int, default=3)
    d.add_argument("--size", type=int, default=8, help="mask logits side (stride 4)")
    d.add_argument("--layers", type=int, default=3)
    d.add_argument("--feature-sizes", default="2x2,4x4,8x8")
    d.add_argument("--matchings", default="auto", choices=["auto", "scipy", "none"])
    d.add_argument("--float16", action="store_true")
    d.add_argument("--compact", action="store_true", help="write the compact layout (run-length encoded binary masks)")
    d.add_argument("--ref", help="also save the raw outputs here (np.savez) for checking")
    c = sub.add_parser("convert", help="record outputs saved with torch.save")
    c.add_argument("outputs")
    c.add_argument("out")
    c.add_argument("--feature-sizes", default=None)
    c.add_argument("--matchings", default="auto", choices=["auto", "scipy", "none"])
    c.add_argument("--float16", action="store_true")
    c.add_argument("--compact", action="store_true", help="write the compact layout (run-length encoded binary masks)")
    a = ap.parse_args(argv)

    if a.cmd == "demo":
        outs, gts = demo_outputs(a.seed, a.images, a.queries, a.classes, a.size, a.layers)
        info = {"model": "mask2former", "seed": a.seed,
                "dataset": {"kind": "mpanalyze_trace demo", "images": a.images},
                "config": {"queries": a.queries, "classes": a.classes, "layers": a.layers}}
        npz, js = record(a.out, outs, gts, info, feature_sizes=_sizes(a.feature_sizes),
                         indices=[100 + i for i in range(a.images)], float16=a.float16, matchings=a.matchings,
                         compact=a.compact)
        if a.ref:
            ref = {}
            for i, out in enumerate(outs):
                st = stages_from_outputs(out, 0)
                ref["img%d_class_logits" % i] = np.stack([_np(x, np.float32) for x, _ in st])
                ref["img%d_mask_logits" % i] = np.stack([_np(m, np.float32) for _, m in st])
                if gts[i] is not None:
                    ref["img%d_gt_classes" % i] = _np(gts[i]["classes"], np.int32)
                    ref["img%d_gt_masks" % i] = _np(gts[i]["masks"], np.uint8)
                    ref["img%d_gt_cover" % i] = _np(gts[i]["cover"], np.uint8)
            np.savez(a.ref, **ref)
    else:
        saved = torch.load(a.outputs, map_location="cpu")
        npz, js = record(a.out, saved["outputs"], saved.get("gt"), saved.get("run_info"),
                         feature_sizes=_sizes(a.feature_sizes), indices=saved.get("indices"),
                         float16=a.float16, matchings=a.matchings, compact=a.compact)
    print(npz)
    print(js)
    return 0


if __name__ == "__main__":
    sys.exit(main())
