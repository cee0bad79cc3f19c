"""The per-stage figures computed in numpy from a model's raw outputs,
independently of the recorder: the reference the Go analyzer's figures of a
recorded trace must equal (probes.TestPythonPackage).

Each image is given by its raw rows of the batch outputs (uncropped), its
size as the model saw it, its GT at the input resolution, and the attention
masks the decoder used; the image's own cells are cut out by slicing. The
definitions are metrics/doc.go's: IoU(empty, empty) = 1; the queries are
those matched at the last stage; Util-A/B/C over the segments matched at
the last stage; the matching change over all segments; the attended share
and the unblocked rows over the matching-query rows. The matchings are
Mask2Former's cost 2*(-p) + 5*BCE + 5*dice over the image's cells, the
coverage as targets, solved by scipy.
"""

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

STRIDE = 4


def ceil_div(a, b):
    return -(-a // b)


def cover(gt, h, w):
    """GT [G, >=h, >=w] bool -> counts [G, ceil(h/4), ceil(w/4)] of each
    4x4 cell's covered pixels."""
    G = gt.shape[0]
    vh, vw = ceil_div(h, STRIDE), ceil_div(w, STRIDE)
    p = np.zeros((G, vh * STRIDE, vw * STRIDE), bool)
    p[:, :h, :w] = gt[:, :h, :w]
    return p.reshape(G, vh, STRIDE, vw, STRIDE).sum(axis=(2, 4))


def softplus(x):
    return np.logaddexp(0.0, x)


def match(cls, logits, classes, targets):
    """GT -> query of one stage (-1 unmatched)."""
    G = len(classes)
    if G == 0:
        return np.zeros(0, int)
    z = cls.astype(np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    x = logits.reshape(logits.shape[0], -1).astype(np.float64)
    t = targets.reshape(G, -1).astype(np.float64)
    P = x.shape[1]
    bce = (softplus(-x) @ t.T + softplus(x) @ (1 - t).T) / P
    s = 1 / (1 + np.exp(-x))
    dice = 1 - (2 * s @ t.T + 1) / (s.sum(-1)[:, None] + t.sum(-1)[None, :] + 1)
    cost = 2 * -p[:, classes] + 5 * bce + 5 * dice
    rows, cols = linear_sum_assignment(cost)
    out = np.full(G, -1, int)
    out[cols] = rows
    return out


def iou(a, b):
    u = np.logical_or(a, b).sum()
    return 1.0 if u == 0 else np.logical_and(a, b).sum() / u


class Pool:
    """Sums and counts per stage."""

    def __init__(self, n):
        self.sum = [0.0] * n
        self.n = [0] * n

    def add(self, s, v):
        self.sum[s] += float(v)
        self.n[s] += 1

    def means(self):
        return [None if n == 0 else s / n for s, n in zip(self.sum, self.n)]


def figures(images):
    """images: dicts with cls [S, Q, K+1], logits [S, Q, Hb, Wb] (raw),
    size (h, w), padded (Hb*4, Wb*4) input size, classes [G], gt [G, Hg,
    Wg] bool, attn: per stage < S-1 (blocked [Q, fh, fw], unblocked [Q]) as
    the decoder used it over the padded input. Returns the figures by key
    and the matchings per image."""
    S = images[0]["cls"].shape[0]
    f = {k: Pool(S - 1) for k in ("consecutive_iou", "match_change")}  # per stage pair
    # per stage (the attention of the last stage: none, undefined)
    f.update({k: Pool(S) for k in ("iou_to_final", "util_a", "util_b", "util_c", "empty", "attended", "unblocked")})
    matches = []
    for im in images:
        h, w = im["size"]
        Hin, Win = im["input"]
        vh, vw = ceil_div(h, STRIDE), ceil_div(w, STRIDE)
        logits = im["logits"][:, :, :vh, :vw]
        masks = logits > 0
        c = cover(im["gt"], h, w)
        gt_bin = c * 2 >= STRIDE * STRIDE
        targets = c / float(STRIDE * STRIDE)
        m = np.stack([match(im["cls"][s], logits[s], im["classes"], targets) for s in range(S)]) if len(im["classes"]) else \
            np.zeros((S, 0), int)
        matches.append(m)
        final = [(g, q) for g, q in enumerate(m[S - 1]) if q >= 0]
        for s in range(S):
            for g, q in final:
                if s + 1 < S:
                    f["consecutive_iou"].add(s, iou(masks[s, q], masks[s + 1, q]))
                to_final = iou(masks[s, q], masks[S - 1, q])
                f["iou_to_final"].add(s, to_final)
                f["util_a"].add(s, m[s, g] == q)
                f["util_b"].add(s, to_final >= 0.5)
                f["util_c"].add(s, iou(masks[s, q], gt_bin[g]) >= 0.5)
                f["empty"].add(s, not masks[s, q].any())
            if s + 1 < S:
                for g in range(m.shape[1]):
                    f["match_change"].add(s, m[s, g] != m[s + 1, g])
        for s, (blocked, unblocked) in enumerate(im["attn"]):
            fh, fw = blocked.shape[-2:]
            ah, aw = math.ceil(h * fh / Hin), math.ceil(w * fw / Win)
            b = blocked[:, :ah, :aw]
            for q in range(b.shape[0]):
                f["attended"].add(s, (~b[q]).sum() / b[q].size)
                f["unblocked"].add(s, unblocked[q])
    return {k: p.means() for k, p in f.items()}, matches
