"""The trace writer: numpy + torch (scipy, when present, adds the matchings).

A trace is a pair of files, <name>.npz and <name>.json, laid out as
probes/TRACE.md describes (the one definition of the format, for this
writer and for `mpanalyze probe`); every mpanalyze command that reads traces
reads it. ``TraceWriter.add_image`` takes one image's stages at the trace's
frame; the adapters (``mpanalyze_trace.adapters``) turn the outputs of a
detectron2 Mask2Former, the official MP-Former decoder or HF transformers'
Mask2Former into those, with the GT, cropping each image's padding
(docs/own-model.md).

Layouts
-------
The full layout stores float32 (or float16) mask logits: about 243 MB per
COCO-size image (100 queries, 10 stages, 200x304 masks), and the writer
warns when an image takes more than ``WARN_BYTES``. The compact layout
(``compact=True``) stores what the per-stage figures need: every stage's
binary masks, attention and GT masks run-length encoded (``rle``; ``unrle``
decodes), class logits as float16, and the matchings: under 1 MB per
COCO-size image. A compact trace keeps no mask logits (unless
float16=True), so mpanalyze cannot compute matchings it lacks: the writer
computes them (scipy) or refuses.

Stages
------
``stages`` is the list of (class logits [Q, K+1], mask logits [Q, H, W]) of
one image, stage 0 first (stage 0 = the heads on the learnable queries,
before the first layer). Mask logits are the decoder's own, at stride 4.
``stages_from_outputs(out, b)`` takes them from an official decoder output
dict ({"pred_logits", "pred_masks", "aux_outputs"}).

Attention masks
---------------
Unless given, the next layer's cross-attention mask of stage s is computed
as the official decoder does: the stage-s mask logits resized bilinearly
(align_corners=False) to feature level s mod L_f (``feature_sizes``, the
decoder's input levels in order), sigmoid < 0.5 blocked, and rows that are
entirely blocked unblocked. The last stage has none.

Ground truth and matchings
--------------------------
mpanalyze's model matches queries to GT segments with the Mask2Former cost
over every stride-4 pixel against each segment's area coverage of the
pixel's cell (fractional near boundaries); the GT masks are the cells
covered at least half. Pass ``gt_cover`` (``gt_cover_at_stride``) to record
the same: the trace stores the coverage, the matchings use it as targets,
and a matching mpanalyze recomputes from a full trace is the recorded one.
With ``valid=(h, w)`` the matchings are computed over the image's own
h x w cells only (the adapters pass it: the rest of the frame is padding).
"""

import json
import os
import tempfile
import warnings
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

FORMAT = "mpanalyze-trace"
VERSION = 2
PACKAGE_VERSION = "0.1.0"
TOOL = "mpanalyze_trace/" + PACKAGE_VERSION

# WARN_BYTES: a full-layout image larger than this gets a warning that
# suggests the compact layout.
WARN_BYTES = 16 << 20

CONVENTIONS = {
    "stage_indexing": "stage s is the prediction after stage_layers[s] decoder layers; for Mask2Former stage 0 is the heads on the learnable queries before the first layer and stage s >= 1 follows layer s; MaskFormer has no stage 0 (stage_layers 1..L)",
    "threshold": "logit > 0 (sigmoid > 0.5)",
    "rows": "mask_logits, class_logits, attn_mask_s<s>, unblocked and match hold the matching queries 0..Q-1 only; MP rows, when kept, are in the mp_ arrays",
    "attention": "attn_mask_s<s> is the cross-attention mask of the layer after stage s, at that layer's feature size, true = blocked, after entirely blocked rows were unblocked; unblocked marks those rows",
    "gt": "gt_masks (gt_bits) are at the mask logits' size (stride 4): pixels whose area coverage is >= 0.5; gt_cover counts each cell's pixels the segment covers (coverage = gt_cover / mask_stride^2), the targets of the model's matching",
}

WEIGHTS = (2.0, 5.0, 5.0)  # class, mask (BCE), dice: Mask2Former's matching cost

MATCHING_NOTE = ("scipy.optimize.linear_sum_assignment on the Mask2Former cost "
                 "2*(-softmax class prob) + 5*BCE + 5*dice over every stride-4 pixel, "
                 "the GT coverage (gt_cover) as targets, or the binary GT masks without it")


def _np(x, dtype):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if dtype == np.float32:
            x = x.to(torch.float32)
        x = x.numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=dtype))


def to_float16(x):
    """float16 rounding to nearest even that never turns a non-zero value
    into zero (it becomes the smallest subnormal of its sign), so that
    logit > 0 is unchanged, as the Go writer does."""
    h = x.astype(np.float16)
    lost = (h == 0) & (x != 0)
    h[lost] = np.copysign(np.float16(2.0 ** -24), x[lost]).astype(np.float16)
    return h


def stages_from_outputs(out, b=0):
    """Per-stage (class logits [Q, K+1], mask logits [Q, H, W]) of image b
    of an official decoder output dict, stage 0 first."""
    seq = list(out.get("aux_outputs") or []) + [out]
    return [(s["pred_logits"][b], s["pred_masks"][b]) for s in seq]


def gt_cover_at_stride(masks, stride=4):
    """GT masks [G, H0, W0] (bool, at input size; H0, W0 multiples of
    stride) -> uint8 [G, H0/stride, W0/stride]: how many of each
    stride x stride cell's pixels the segment covers, as mpanalyze's data
    counts them (coverage = count / stride^2)."""
    m = torch.as_tensor(masks)
    if m.ndim != 3 or m.shape[1] % stride or m.shape[2] % stride:
        raise ValueError("GT masks of shape %s: want [G, H, W] with H and W multiples of %d (pad them to the padded input first)"
                         % (tuple(m.shape), stride))
    G, H, W = m.shape
    c = m.reshape(G, H // stride, stride, W // stride, stride).to(torch.int32).sum(dim=(2, 4))
    return c.to(torch.uint8).numpy()


def gt_at_stride(masks, stride=4):
    """GT masks [G, H0, W0] (bool) at mask resolution: pixels whose area
    coverage is >= 0.5, as mpanalyze's data does."""
    return torch.as_tensor(gt_cover_at_stride(masks, stride).astype(np.int32) * 2 >= stride * stride)


def attention_mask(mask_logits, size):
    """The next layer's attention mask from one stage's mask logits
    [Q, H, W]: (blocked bool [Q, h, w], unblocked bool [Q]), as the
    official decoder computes it."""
    x = torch.as_tensor(mask_logits).float()[None]
    a = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)[0]
    blocked = a.sigmoid() < 0.5
    full = blocked.flatten(1).all(dim=1)
    blocked[full] = False
    return blocked, full


def attention_sizes(feature_sizes, num_stages):
    """Feature size of the layer after each stage (None for the last)."""
    return [tuple(feature_sizes[s % len(feature_sizes)]) if s < num_stages - 1 else None
            for s in range(num_stages)]


def hungarian(class_logits, mask_logits, gt_classes, targets, weights=WEIGHTS):
    """Matching of one stage (gt -> query, -1 unmatched) with the
    Mask2Former cost over every pixel; targets [G, H, W] in [0, 1] (the GT
    coverage, or binary masks). Raises ImportError without scipy."""
    from scipy.optimize import linear_sum_assignment
    z = torch.as_tensor(class_logits).double()
    x = torch.as_tensor(mask_logits).double().flatten(1)
    t = torch.as_tensor(targets).double().flatten(1)
    cls = torch.as_tensor(gt_classes).long()
    G = t.shape[0]
    if G == 0:
        return np.zeros((0,), np.int32)
    P = x.shape[1]
    cost_class = -z.softmax(-1)[:, cls]
    cost_bce = (F.softplus(-x) @ t.T + F.softplus(x) @ (1 - t).T) / P
    s = x.sigmoid()
    cost_dice = 1 - (2 * s @ t.T + 1) / (s.sum(-1)[:, None] + t.sum(-1)[None, :] + 1)
    c = weights[0] * cost_class + weights[1] * cost_bce + weights[2] * cost_dice
    rows, cols = linear_sum_assignment(c.numpy())
    match = np.full((G,), -1, np.int32)
    match[cols] = rows
    return match


def have_scipy():
    try:
        import scipy.optimize  # noqa: F401
        return True
    except ImportError:
        return False


def _sha256(path):
    import hashlib
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def trace_paths(path):
    """(npz, json) of a trace path, as probes.TracePaths."""
    if path.endswith(".npz") or path.endswith(".json"):
        base = path.rsplit(".", 1)[0]
    elif path.endswith(os.sep) or os.path.isdir(path):
        base = os.path.join(path, "trace")
    else:
        base = path
    return base + ".npz", base + ".json"


MAX_RUN = 65535  # the longest run one uint16 holds


def rle(a):
    """Run-length encodes boolean masks [..., h, w] as the compact layout
    stores them: each mask's pixels in row-major order as alternating run
    lengths, starting with the leading False pixels (0 when the first pixel
    is True); a run longer than 65535 is written as 65535, 0, rest. Returns
    (runs uint16 [N], nruns int32 [...]): every mask's runs back to back,
    and each mask's number of runs."""
    a = np.asarray(a, dtype=bool)
    lead = a.shape[:-2]
    flat = a.reshape(-1, a.shape[-2] * a.shape[-1])
    out, counts = [], np.zeros(flat.shape[0], np.int32)
    for i, row in enumerate(flat):
        bounds = np.concatenate(([0], np.flatnonzero(row[1:] != row[:-1]) + 1, [row.size]))
        r = np.diff(bounds)
        if row[0]:
            r = np.concatenate(([0], r))
        if r.max(initial=0) > MAX_RUN:
            split = []
            for v in r.tolist():
                while v > MAX_RUN:
                    split += [MAX_RUN, 0]
                    v -= MAX_RUN
                split.append(v)
            r = np.array(split)
        out.append(r)
        counts[i] = r.size
    runs = np.concatenate(out) if out else np.zeros(0)
    return runs.astype("<u2"), counts.reshape(lead)


def unrle(runs, nruns, shape):
    """The boolean masks of shape [..., h, w] whose runs (rle) are runs and
    nruns: the inverse of rle, as TRACE.md shows it."""
    n = np.asarray(nruns).ravel()
    start = np.repeat(np.cumsum(n) - n, n)                 # each run's mask's first run
    value = ((np.arange(len(runs)) - start) % 2).astype(bool)  # False, True, False, ... per mask
    return np.repeat(value, np.asarray(runs, np.int64)).reshape(shape)


class TraceWriter:
    """Streams images into a trace; files appear under their final names
    only when close() succeeds (use it as a context manager).

    compact=True writes the compact layout (binary masks, attention and GT
    masks run-length encoded, class logits float16, mask logits only with
    float16=True); the default is the full layout (float32 mask logits, or
    float16 with float16=True). compress=True deflates the entries."""

    def __init__(self, path, run_info=None, float16=False, compress=False, matchings="auto", compact=False):
        self.npz_path, self.json_path = trace_paths(path)
        d = os.path.dirname(self.npz_path) or "."
        os.makedirs(d, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.npz_path) + ".tmp-", dir=d)
        os.close(fd)
        self.compact = compact
        self.compress = compress
        self.zf = zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_DEFLATED if self.compress else zipfile.ZIP_STORED)
        self.user_info = dict(run_info or {})
        self.float16 = float16
        self.matchings = matchings  # "auto" (scipy if present), "scipy", or "none"
        self.info = None
        self.images, self.arrays, self.seen = [], [], set()
        self.any_match = False
        self.warned = False

    def _write(self, name, arr, rle_shape=None):
        arr = np.ascontiguousarray(arr)
        with self.zf.open(name + ".npy", "w", force_zip64=arr.nbytes > (1 << 30)) as f:
            np.lib.format.write_array(f, arr, version=(1, 0))
        info = {"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape)}
        if rle_shape is not None:
            info["rle"] = [int(v) for v in rle_shape]
        self.arrays.append(info)

    def _write_rle(self, name, a):
        """Writes boolean masks a [..., h, w] as <name>_runs (with their
        shape as "rle") and <name>_nruns."""
        a = np.asarray(a, dtype=bool)
        runs, nruns = rle(a)
        self._write(name + "_runs", runs, rle_shape=a.shape)
        self._write(name + "_nruns", nruns)

    def _init(self, S, Q, K, H, W):
        info = {"model": "mask2former", "num_stages": S, "num_queries": Q, "num_classes": K,
                "mask_stride": 4, "mask_h": H, "mask_w": W, "seed": 0,
                "tool_version": "%s (torch %s, numpy %s)" % (TOOL, torch.__version__, np.__version__)}
        info.update(self.user_info)
        info.setdefault("stage_layers", list(range(S)))
        if info.get("checkpoint") and not info.get("checkpoint_sha256"):
            h = _sha256(info["checkpoint"])
            if h:
                info["checkpoint_sha256"] = h
        want = {"num_stages": S, "num_queries": Q, "num_classes": K, "mask_h": H, "mask_w": W}
        for k, v in want.items():
            if info[k] != v:
                raise ValueError("run_info %s = %r, the outputs have %r" % (k, info[k], v))
        if len(info["stage_layers"]) != S:
            raise ValueError("stage_layers has %d entries for %d stages" % (len(info["stage_layers"]), S))
        self.info = info

    def add_image(self, index, stages, gt_classes=None, gt_masks=None, attn=None,
                  feature_sizes=None, matches=None, gt_cover=None, valid=None):
        """Adds image `index` (its dataset index).

        stages: [(class logits [Q, K+1], mask logits [Q, H, W])], stage 0 first.
        gt_classes [G] with gt_cover [G, H, W] (uint8 counts of covered input
            pixels per stride x stride cell, gt_cover_at_stride; the matching
            targets, and gt_masks = cover >= 1/2 unless given) and/or
            gt_masks [G, H, W] bool at mask size; or None (no GT).
        attn: per stage None or (blocked [Q, h, w], unblocked [Q]); default:
            computed from feature_sizes (no attention when both are None).
        matches: [S, G] (gt -> query, -1); default: scipy when available.
        valid: (h, w), the cells of the frame the image covers (top left);
            the matchings are computed over them only. None: all of them.
        """
        index = int(index)
        if index in self.seen:
            raise ValueError("image %d added twice" % index)
        S = len(stages)
        cls = np.stack([_np(c, np.float32) for c, _ in stages])
        msk = np.stack([_np(m, np.float32) for _, m in stages])
        if cls.ndim != 3 or msk.ndim != 4 or cls.shape[1] != msk.shape[1]:
            raise ValueError("image %d: stages must be ([Q, K+1], [Q, H, W]) pairs of one image, got class logits %s "
                             "and mask logits %s per stage" % (index, cls.shape[1:], msk.shape[1:]))
        _, Q, K1 = cls.shape
        H, W = msk.shape[2:]
        if self.info is None:
            self._init(S, Q, K1 - 1, H, W)
        else:
            have = dict(zip(("num_stages", "num_queries", "num_classes", "mask_h", "mask_w"), (S, Q, K1 - 1, H, W)))
            for k, v in have.items():
                if self.info[k] != v:
                    hint = ""
                    if k in ("mask_h", "mask_w"):
                        hint = ("; every image of a trace is in one frame: crop each image's padding and pad it to the "
                                "frame (the adapters do: give them frame=, the largest padded input)")
                    raise ValueError("image %d: %s %d, the trace has %d (from its first image)%s" % (index, k, v, self.info[k], hint))
        if valid is None:
            valid = (H, W)
        vh, vw = (int(v) for v in valid)
        if not (0 < vh <= H and 0 < vw <= W):
            raise ValueError("image %d: valid region %dx%d is not inside the %dx%d frame" % (index, vh, vw, H, W))
        total = msk.size * (2 if self.float16 else 4)
        if not self.compact and not self.warned and total > WARN_BYTES:
            self.warned = True
            warnings.warn("full layout: %.0f MB of mask logits per image (%d stages x %d queries x %dx%d); "
                          "compact=True stores what the figures need in about 1 MB (probes/TRACE.md, Storage)"
                          % (total / 1e6, S, Q, H, W), stacklevel=2)
        has_gt = gt_classes is not None
        G, gc, gm, cover, targets, match = 0, None, None, None, None, None
        if has_gt:
            gc = _np(gt_classes, np.int32)
            if gc.ndim != 1:
                raise ValueError("image %d: gt_classes has shape %s, want [G]" % (index, gc.shape))
            G = gc.shape[0]
            scale = self.info["mask_stride"] ** 2
            if gt_cover is not None:
                cover = np.asarray(_np(gt_cover, np.int64))
                if cover.shape != (G, H, W):
                    raise ValueError("image %d: gt_cover has shape %s, want %s (G, mask_h, mask_w)" % (index, cover.shape, (G, H, W)))
                if cover.min(initial=0) < 0 or cover.max(initial=0) > scale:
                    raise ValueError("image %d: gt_cover counts must be in 0..%d (stride %d)" % (index, scale, self.info["mask_stride"]))
                cover = cover.astype(np.uint8)
                targets = cover.astype(np.float32) / np.float32(scale)
            if gt_masks is not None:
                gm = _np(gt_masks, np.uint8)
                if gm.shape != (G, H, W):
                    raise ValueError("image %d: gt_masks has shape %s, want %s (G, mask_h, mask_w)" % (index, gm.shape, (G, H, W)))
            elif cover is not None:
                gm = (cover.astype(np.int32) * 2 >= scale).astype(np.uint8)
            else:
                raise ValueError("image %d: GT classes without gt_masks or gt_cover" % index)
            if targets is None:
                targets = gm.astype(np.float32)
            if matches is not None:
                match = _np(matches, np.int32)
                if match.shape != (S, G):
                    raise ValueError("image %d: matches has shape %s, want %s" % (index, match.shape, (S, G)))
            elif self.matchings == "scipy" or (self.matchings == "auto" and have_scipy()):
                match = np.stack([hungarian(cls[s], msk[s, :, :vh, :vw], gc, targets[:, :vh, :vw])
                                  for s in range(S)]).reshape(S, G)
            elif self.compact and not self.float16 and G > 0 and self.matchings != "none":
                raise ValueError("image %d: a compact trace without mask logits needs its matchings (install scipy, "
                                 "pass matches=, or matchings='none' to record none)" % index)
        self.seen.add(index)
        if attn is None and feature_sizes is not None:
            sizes = attention_sizes(feature_sizes, S)
            attn = [None if sz is None else attention_mask(msk[s], sz) for s, sz in enumerate(sizes)]
        p = "img%d/" % index
        if self.compact:
            self._write_rle(p + "mask", msk > 0)
            if self.float16:
                self._write(p + "mask_logits", to_float16(msk))
            self._write(p + "class_logits", to_float16(cls))
        else:
            self._write(p + "mask_logits", to_float16(msk) if self.float16 else msk)
            self._write(p + "class_logits", cls)
        unblocked = np.zeros((S, Q), np.uint8)
        for s, a in enumerate(attn or []):
            if a is None:
                continue
            blocked, unb = a
            if self.compact:
                self._write_rle(p + "attn_s%d" % s, _np(blocked, np.bool_))
            else:
                self._write(p + "attn_mask_s%d" % s, _np(blocked, np.bool_))
            unblocked[s] = _np(unb, np.bool_)
        self._write(p + "unblocked", unblocked)
        if has_gt:
            if match is not None:
                self.any_match = True
                self._write(p + "match", match)
            if self.compact:
                self._write_rle(p + "gt", gm != 0)
            else:
                self._write(p + "gt_masks", gm)
            self._write(p + "gt_classes", gc)
            # The coverage serves to recompute matchings, which needs mask
            # logits: a compact trace without them does not store it.
            keep_cover = cover is not None and (not self.compact or self.float16)
            if keep_cover:
                self._write(p + "gt_cover", cover)
        entry = {"index": index, "has_gt": has_gt, "gt": G, "num_mp": 0, "match": match is not None}
        if has_gt and keep_cover:
            entry["cover"] = True
        self.images.append(entry)

    def close(self):
        self.zf.close()
        if self.info is None:
            raise ValueError("no image recorded")
        info = dict(self.info)
        if self.any_match:
            info.setdefault("matching", "recorded")
        info.setdefault("match_cost", {"class": WEIGHTS[0], "mask": WEIGHTS[1], "dice": WEIGHTS[2]})
        if self.compact:
            storage = {"layout": "compact", "mask_dtype": "float16" if self.float16 else "none",
                       "class_dtype": "float16", "mp_rows": False,
                       "compression": "deflate" if self.compress else "stored"}
        else:
            storage = {"layout": "full", "mask_dtype": "float16" if self.float16 else "float32",
                       "class_dtype": "float32", "mp_rows": False,
                       "compression": "deflate" if self.compress else "stored"}
        side = {
            "format": FORMAT, "version": VERSION, "run": info,
            "conventions": dict(CONVENTIONS, stage_layers=info["stage_layers"],
                                mask_stride=info["mask_stride"], mask_size=[info["mask_h"], info["mask_w"]]),
            "storage": storage,
            "npz_bytes": os.path.getsize(self.tmp),
            "images": self.images, "arrays": self.arrays,
        }
        if self.any_match and self.matchings != "none" and "matching_note" not in self.user_info:
            side["matching_note"] = MATCHING_NOTE
        os.chmod(self.tmp, 0o644)
        d = os.path.dirname(self.json_path) or "."
        fd, jtmp = tempfile.mkstemp(prefix="." + os.path.basename(self.json_path) + ".tmp-", dir=d)
        with os.fdopen(fd, "w") as f:
            json.dump(side, f, indent=2)
            f.write("\n")
        os.chmod(jtmp, 0o644)
        if os.path.exists(self.json_path):
            os.remove(self.json_path)
        os.replace(self.tmp, self.npz_path)
        os.replace(jtmp, self.json_path)

    def abort(self):
        try:
            self.zf.close()
        finally:
            if os.path.exists(self.tmp):
                os.remove(self.tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def record(path, outputs_per_image, gt, run_info=None, feature_sizes=None, indices=None, **kw):
    """Writes a trace of images whose decoder outputs (official dicts with a
    batch of one) are outputs_per_image; gt[i] is None or {"classes": [G],
    "masks": [G, H, W]} and/or {"classes": [G], "cover": [G, H, W]} at mask
    size; feature_sizes the decoder's level sizes (for the attention
    masks). Returns (npz path, json path)."""
    with TraceWriter(path, run_info, **kw) as w:
        for i, out in enumerate(outputs_per_image):
            g = gt[i] if gt is not None else None
            w.add_image(indices[i] if indices is not None else i, stages_from_outputs(out, 0),
                        gt_classes=None if g is None else g["classes"],
                        gt_masks=None if g is None else g.get("masks"),
                        gt_cover=None if g is None else g.get("cover"),
                        feature_sizes=feature_sizes)
    return w.npz_path, w.json_path
