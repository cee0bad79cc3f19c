"""Each image of a batch in the trace's frame.

A trace holds every image in one frame of ``mask_h x mask_w`` cells at
stride 4 (probes/TRACE.md). A detectron2 or HF batch pads every image to the
largest one (rounded up to ``size_divisibility``); the decoder's mask
logits cover that padded input at stride 4. ``place_image`` crops one
image's padding from them — keeping the ``ceil(h/4) x ceil(w/4)`` cells its
``h x w`` input pixels cover — and puts that region at the top left of the
trace's frame; the rest of the frame is padding: mask logit ``PAD_LOGIT``
(an empty mask), no GT. ``gt_in_frame`` does the same for the GT masks.

Figures are unchanged by the padding (an empty cell of two masks is in
neither their intersection nor their union), and the writer computes the
matchings over the image's own cells only (``valid``).

Nothing here reshapes data to fit: a shape that does not fit raises a
ValueError that says what to crop, pad or resize.
"""

import math

import numpy as np
import torch

from .trace import _np, attention_mask, attention_sizes, gt_cover_at_stride

STRIDE = 4

# PAD_LOGIT is the mask logit of the frame's cells outside an image in the
# full layout: finite (float16 holds it), and far below 0 (an empty mask).
PAD_LOGIT = -1.0e4

# FRAME_HINT says how to choose a frame, for error messages.
FRAME_HINT = ("give the recorder frame=(H, W), the largest padded input in pixels "
              "(e.g. (1344, 1344) for ResizeShortestEdge(800, max 1333) with size_divisibility 32)")


def cells(pixels, stride=STRIDE):
    """The number of stride x stride cells that cover `pixels` pixels."""
    return -(-int(pixels) // stride)


def frame_cells(frame, stride=STRIDE):
    """A frame given as (H, W) input pixels, positive multiples of stride,
    as (H/stride, W/stride) cells."""
    try:
        H, W = (int(v) for v in frame)
    except (TypeError, ValueError):
        raise ValueError("frame=%r: want (H, W), input pixels" % (frame,)) from None
    if H <= 0 or W <= 0 or H % stride or W % stride:
        raise ValueError("frame=%r: want (H, W) input pixels, positive multiples of %d" % (frame, stride))
    return H // stride, W // stride


def image_size(size, what):
    """(h, w) as two positive ints."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError("%s: image size %r: want (h, w) in input pixels" % (what, size)) from None
    if h <= 0 or w <= 0:
        raise ValueError("%s: image size %r: want positive (h, w)" % (what, size))
    return h, w


def place_image(class_logits, mask_logits, size, frame, feature_sizes=None, stride=STRIDE, what="image"):
    """One image of a batch in the trace's frame.

    class_logits [S, Q, K+1] and mask_logits [S, Q, Hb, Wb] are the image's
    rows of the batch outputs (stage 0 first): mask logits over the batch's
    padded input (Hb*stride x Wb*stride pixels). size = (h, w) is the image
    as the model saw it (after the test-time resize, before padding), at
    the top left of the input. frame = (Hf, Wf) cells. feature_sizes are
    the batch's decoder levels, (h_l, w_l) each, for the attention masks
    (None: none recorded).

    Returns (stages, attn, valid): stages [(class logits [Q, K+1], mask
    logits [Q, Hf, Wf])] with the image's cells at the top left and
    PAD_LOGIT elsewhere; attn per stage None or (blocked [Q, a_h, a_w],
    unblocked [Q]): the decoder's rule on the batch's logits (what the layer
    used), cropped to the cells of the level the image covers; valid =
    (ceil(h/stride), ceil(w/stride)).
    """
    cls = _np(class_logits, np.float32)
    msk = _np(mask_logits, np.float32)
    if cls.ndim != 3 or msk.ndim != 4:
        raise ValueError("%s: want class logits [S, Q, K+1] and mask logits [S, Q, H, W], got %s and %s"
                         % (what, cls.shape, msk.shape))
    if cls.shape[:2] != msk.shape[:2]:
        raise ValueError("%s: class logits %s and mask logits %s disagree on stages or queries" % (what, cls.shape, msk.shape))
    S, Q, Hb, Wb = msk.shape
    h, w = image_size(size, what)
    vh, vw = cells(h, stride), cells(w, stride)
    if vh > Hb or vw > Wb:
        raise ValueError("%s: the image is %dx%d pixels (%dx%d cells at stride %d) but the mask logits cover %dx%d cells: "
                         "the image size is not the size the model saw (it is the size after the test-time resize, "
                         "before padding)" % (what, h, w, vh, vw, stride, Hb, Wb))
    Hf, Wf = frame
    if vh > Hf or vw > Wf:
        raise ValueError("%s: its %dx%d cells (%dx%d input pixels) do not fit the trace's %dx%d-cell frame (%dx%d pixels); %s"
                         % (what, vh, vw, h, w, Hf, Wf, Hf * stride, Wf * stride, FRAME_HINT))
    out = np.full((S, Q, Hf, Wf), PAD_LOGIT, np.float32)
    out[:, :, :vh, :vw] = msk[:, :, :vh, :vw]
    attn = None
    if feature_sizes is not None:
        attn = []
        for s, sz in enumerate(attention_sizes(feature_sizes, S)):
            if sz is None:
                attn.append(None)
                continue
            fh, fw = (int(v) for v in sz)
            blocked, unblocked = attention_mask(msk[s], (fh, fw))
            # The level's cells the image covers: the level spans the
            # padded input, Hb*stride pixels in fh cells.
            ah = min(fh, math.ceil(h * fh / (Hb * stride)))
            aw = min(fw, math.ceil(w * fw / (Wb * stride)))
            attn.append((blocked[:, :ah, :aw], unblocked))
    return [(cls[s], out[s]) for s in range(S)], attn, (vh, vw)


def gt_in_frame(masks, size, frame, stride=STRIDE, what="image", pad_values=(0,)):
    """GT coverage of one image in the trace's frame.

    masks [G, Hg, Wg] are binary GT masks at the input resolution the model
    saw, the image at the top left: at the image's own size (Hg, Wg) = (h,
    w), as detectron2's mapper gives them, or padded like the input (HF's
    mask_labels, whose padding holds the processor's ignore_index), the
    padding holding only pad_values. Returns uint8 [G, Hf, Wf]: how many of
    each stride x stride cell's pixels the segment covers (gt_cover), zero
    outside the image.
    """
    m = torch.as_tensor(masks)
    if m.ndim != 3:
        raise ValueError("%s: GT masks have shape %s, want [G, H, W] (one binary mask per segment, at the input resolution)"
                         % (what, tuple(m.shape)))
    G, Hg, Wg = m.shape
    h, w = image_size(size, what)
    if Hg < h or Wg < w:
        raise ValueError("%s: GT masks are %dx%d pixels but the image the model saw is %dx%d: resize the annotations "
                         "with the test-time transform (a mapper that keeps the annotations, docs/own-model.md)"
                         % (what, Hg, Wg, h, w))
    if Hg > h or Wg > w:
        outside = torch.cat([m[:, h:, :].flatten(), m[:, :h, w:].flatten()])
        allowed = torch.zeros_like(outside, dtype=torch.bool)
        for v in pad_values:
            allowed |= outside == v
        if not bool(allowed.all()):
            found = sorted({float(v) for v in outside[~allowed].unique()[:3].tolist()})
            raise ValueError("%s: GT masks of %dx%d pixels have pixels outside the image's %dx%d (values %s): they are not in "
                             "the frame of the model's input (crop them to the image, or check the image size; HF's processor "
                             "pads them with its ignore_index: pass ignore_index=)"
                             % (what, Hg, Wg, h, w, ", ".join("%g" % v for v in found)))
    m = m[:, :h, :w] != 0
    vh, vw = cells(h, stride), cells(w, stride)
    Hf, Wf = frame
    if vh > Hf or vw > Wf:
        raise ValueError("%s: its %dx%d GT cells do not fit the trace's %dx%d-cell frame; %s" % (what, vh, vw, Hf, Wf, FRAME_HINT))
    padded = torch.zeros((G, vh * stride, vw * stride), dtype=torch.bool)
    padded[:, :h, :w] = m
    out = np.zeros((G, Hf, Wf), np.uint8)
    out[:, :vh, :vw] = gt_cover_at_stride(padded, stride)
    return out
