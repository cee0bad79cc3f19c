"""Recorders for models trained elsewhere: detectron2 Mask2Former, the
official MP-Former decoder, and HF transformers' Mask2Former.

Each recorder turns a batch's decoder outputs and the batch's items into one
trace image per item: every stage's class and mask logits, the attention
masks the decoder used, and the GT, in the trace's frame with each image's
padding cropped (``frame.place_image``, ``frame.gt_in_frame``). None of them
imports detectron2 or transformers: they read the outputs by the names the
official code gives them.

- ``Detectron2Recorder(model, writer)``: a forward hook on
  ``model.sem_seg_head.predictor`` (the official
  ``MultiScaleMaskedTransformerDecoder``, whose output is
  ``{"pred_logits": [B, Q, K+1], "pred_masks": [B, Q, H/4, W/4],
  "aux_outputs": [...]}``, stages 0..L-1 in aux_outputs, and whose first
  input is the list of feature levels); ``add(batch)`` after
  ``model(batch)``. The batch items need "image" (C, h, w) and "instances"
  with ``gt_classes`` and bitmask ``gt_masks``.
- ``MPFormerRecorder(model, writer)``: the same hook on MP-Former's decoder,
  whose output adds ``dn_out`` (the mask-pilot rows, None at inference):
  the trace holds the matching queries only, ``dn_out`` is ignored.
- ``HFRecorder(writer)``: ``add(outputs, pixel_mask=..., mask_labels=...,
  class_labels=...)`` with the outputs of
  ``Mask2FormerForUniversalSegmentation(..., output_auxiliary_logits=True,
  output_hidden_states=True)``: ``class_queries_logits``,
  ``masks_queries_logits`` (the last stage), ``auxiliary_logits`` (a list of
  {"class_queries_logits", "masks_queries_logits"}, stages 0..L-1) and
  ``pixel_decoder_hidden_states`` (the feature levels).

docs/own-model.md walks through each.
"""

import torch

from .frame import STRIDE, frame_cells, gt_in_frame, image_size, place_image


def _get(obj, name):
    """obj.name, or obj[name] for dicts (HF's ModelOutput is both)."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _stack_stages(seq, cls_key, mask_key, what):
    """Stacks the per-stage dicts of seq (stage 0 first) into class logits
    [B, S, Q, K+1] and mask logits [B, S, Q, H, W]."""
    for s, d in enumerate(seq):
        for k in (cls_key, mask_key):
            if _get(d, k) is None:
                raise ValueError("%s: stage %d has no %r (keys: %s)" % (what, s, k, sorted(d) if isinstance(d, dict) else type(d).__name__))
    cls = [torch.as_tensor(_get(d, cls_key)).detach() for d in seq]
    msk = [torch.as_tensor(_get(d, mask_key)).detach() for d in seq]
    for s in range(len(seq)):
        if cls[s].ndim != 3 or msk[s].ndim != 4:
            raise ValueError("%s: stage %d has %s %s and %s %s, want [B, Q, K+1] and [B, Q, H, W]"
                             % (what, s, cls_key, tuple(cls[s].shape), mask_key, tuple(msk[s].shape)))
        if cls[s].shape != cls[-1].shape or msk[s].shape != msk[-1].shape:
            raise ValueError("%s: stage %d has %s %s and %s %s, the last stage %s and %s"
                             % (what, s, cls_key, tuple(cls[s].shape), mask_key, tuple(msk[s].shape),
                                tuple(cls[-1].shape), tuple(msk[-1].shape)))
    if cls[-1].shape[:2] != msk[-1].shape[:2]:
        raise ValueError("%s: %s %s and %s %s disagree on the batch or the queries"
                         % (what, cls_key, tuple(cls[-1].shape), mask_key, tuple(msk[-1].shape)))
    return torch.stack(cls, 1), torch.stack(msk, 1)


def official_stages(out, what="decoder output"):
    """The official decoder's output dict as (class logits [B, S, Q, K+1],
    mask logits [B, S, Q, H, W]), stage 0 first. Other keys (MP-Former's
    dn_out) are ignored."""
    if not isinstance(out, dict):
        raise ValueError("%s: want the decoder's dict {'pred_logits', 'pred_masks', 'aux_outputs'}, got %s"
                         % (what, type(out).__name__))
    if "pred_logits" not in out and _get(out, "class_queries_logits") is not None:
        raise ValueError("%s: these are HF transformers outputs (class_queries_logits): use HFRecorder" % what)
    seq = list(out.get("aux_outputs") or []) + [out]
    return _stack_stages(seq, "pred_logits", "pred_masks", what)


class Recorder:
    """Writes images into a TraceWriter in one frame.

    frame = (H, W) input pixels, multiples of 4: the frame every image of
    the trace is placed in. None takes the first batch's padded input; an
    image larger than that raises a ValueError saying which frame to give.
    """

    model_name = "mask2former"

    def __init__(self, writer, frame=None, stride=STRIDE):
        self.writer = writer
        self.stride = stride
        self.frame = None if frame is None else frame_cells(frame, stride)
        self.count = 0
        if writer.info is None:  # before the first image: the run info's default model
            writer.user_info.setdefault("model", self.model_name)

    def add_image(self, index, class_logits, mask_logits, size, feature_sizes=None,
                  gt_classes=None, gt_masks=None, what=None, pad_values=(0,)):
        """One image: its rows of the batch outputs (class logits [S, Q,
        K+1], mask logits [S, Q, Hb, Wb]), its size (h, w) as the model saw
        it, the batch's feature sizes, and its GT (classes [G] and binary
        masks [G, Hg, Wg] at the input resolution, padding beyond the image
        holding only pad_values; None: no GT)."""
        what = what or "image %s" % index
        if self.frame is None:
            self.frame = tuple(int(v) for v in mask_logits.shape[-2:])
        stages, attn, valid = place_image(class_logits, mask_logits, size, self.frame,
                                          feature_sizes=feature_sizes, stride=self.stride, what=what)
        kw = {}
        if gt_classes is not None:
            gc = torch.as_tensor(gt_classes)
            gm = torch.as_tensor(gt_masks) if gt_masks is not None else None
            if gc.ndim != 1:
                raise ValueError("%s: GT classes have shape %s, want [G]" % (what, tuple(gc.shape)))
            if gm is None or gm.ndim != 3 or gm.shape[0] != gc.shape[0]:
                raise ValueError("%s: %d GT classes but GT masks of shape %s: want [%d, H, W]"
                                 % (what, gc.shape[0], None if gm is None else tuple(gm.shape), gc.shape[0]))
            kw = {"gt_classes": gc, "gt_cover": gt_in_frame(gm, size, self.frame, self.stride, what, pad_values)}
        self.writer.add_image(index, stages, attn=attn if attn is not None else [], valid=valid, **kw)
        self.count += 1

    def next_index(self):
        return self.count


class Detectron2Recorder(Recorder):
    """Records a detectron2 Mask2Former (MaskFormer meta-architecture) with
    a forward hook on its decoder, model.sem_seg_head.predictor.

    Use::

        rec = Detectron2Recorder(model, writer, frame=(1344, 1344))
        with torch.no_grad():
            for batch in loader:      # a mapper that keeps the annotations
                model(batch)
                rec.add(batch)
        rec.remove()

    gt=False records without GT (then the utilisation figures count
    nothing). index names the item's key of its dataset index
    ("image_id"; items without it are numbered in order).
    """

    def __init__(self, model, writer, frame=None, gt=True, index="image_id", predictor=None):
        super().__init__(writer, frame)
        if predictor is None:
            head = getattr(model, "sem_seg_head", None)
            predictor = getattr(head, "predictor", None)
            if predictor is None:
                raise ValueError("%s has no sem_seg_head.predictor: give the decoder module as predictor="
                                 % type(model).__name__)
        self.predictor = predictor
        self.num_queries = getattr(predictor, "num_queries", None)
        self.gt = gt
        self.index_key = index
        self.captured = None
        self.calls = 0  # decoder runs since the last add
        self.handle = predictor.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        sizes = None
        if inputs and isinstance(inputs[0], (list, tuple)):
            sizes = [tuple(int(v) for v in f.shape[-2:]) for f in inputs[0]]
        self.captured = (output, sizes)
        self.calls += 1

    def remove(self):
        """Removes the hook."""
        self.handle.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    def add(self, batch):
        """Records every item of batch (the list of dicts model(batch) was
        called with) from the decoder output the hook captured."""
        if self.captured is None:
            raise RuntimeError("no decoder output captured: call model(batch) before add(batch)")
        if self.calls > 1:
            n, self.captured, self.calls = self.calls, None, 0
            raise RuntimeError("the decoder ran %d times since the last add(batch): call add(batch) after every "
                               "model(batch) (test-time augmentation runs it once per view: record without it)" % n)
        out, sizes = self.captured
        self.captured, self.calls = None, 0
        cls, msk = official_stages(out, "%s output" % type(self.predictor).__name__)
        B, S, Q = cls.shape[:3]
        if len(batch) != B:
            raise ValueError("the decoder output holds %d images, the batch %d: call add with the batch model() saw" % (B, len(batch)))
        if self.num_queries is not None and Q != self.num_queries:
            raise ValueError("the decoder output has %d query rows, the decoder %d queries: mask-pilot rows must be split "
                             "off (the official MP-Former decoder returns them in dn_out)" % (Q, self.num_queries))
        for b, item in enumerate(batch):
            index = item.get(self.index_key, None) if self.index_key else None
            if index is None:
                index = self.next_index()
            what = "batch item %d (image %s)" % (b, index)
            img = item.get("image")
            if img is None:
                raise ValueError("%s has no 'image'" % what)
            size = image_size(img.shape[-2:], what)
            gc = gm = None
            if self.gt:
                gc, gm = detectron2_gt(item, what)
            self.add_image(int(index), cls[b], msk[b], size, feature_sizes=sizes, gt_classes=gc, gt_masks=gm, what=what)


def detectron2_gt(item, what):
    """(classes [G], bitmasks [G, h, w]) of a detectron2 dataset item's
    "instances" (gt_classes, gt_masks as BitMasks or a tensor)."""
    inst = item.get("instances")
    if inst is None:
        raise ValueError("%s has no 'instances': detectron2's test-time DatasetMapper drops the annotations; load the "
                         "data with a mapper that keeps them (docs/own-model.md), or record without GT (gt=False)" % what)
    gc = getattr(inst, "gt_classes", None)
    gm = getattr(inst, "gt_masks", None)
    if gc is None or gm is None:
        raise ValueError("%s: its instances have no gt_classes or gt_masks (build the mapper with use_instance_mask=True)" % what)
    if hasattr(gm, "polygons"):
        raise ValueError("%s: gt_masks are polygons: build the mapper with instance_mask_format='bitmask'" % what)
    gm = getattr(gm, "tensor", gm)  # BitMasks keeps its [G, h, w] bool tensor in .tensor
    return gc, gm


class MPFormerRecorder(Detectron2Recorder):
    """Records the official MP-Former decoder (IDEA-Research/MP-Former,
    MultiScaleMaskedTransformerDecoderMaskDN): the same hook and batch
    items as Detectron2Recorder. Its output's pred_logits, pred_masks and
    aux_outputs hold the matching queries (the decoder splits the mask-pilot
    rows off into dn_out, None at inference); dn_out is ignored."""

    model_name = "mpformer"


class HFRecorder(Recorder):
    """Records HF transformers' Mask2FormerForUniversalSegmentation.

    Use::

        rec = HFRecorder(writer, frame=(1344, 1344))
        inputs = processor(images=images, segmentation_maps=maps, return_tensors="pt")
        with torch.no_grad():
            out = model(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"],
                        output_auxiliary_logits=True, output_hidden_states=True)
        rec.add(out, pixel_mask=inputs["pixel_mask"], mask_labels=inputs["mask_labels"],
                class_labels=inputs["class_labels"], ignore_index=processor.ignore_index, indices=ids)
    """

    def add(self, outputs, pixel_mask=None, image_sizes=None, mask_labels=None, class_labels=None,
            indices=None, feature_sizes=None, ignore_index=None):
        """Records every image of the batch. The image sizes come from
        image_sizes [(h, w)], or from pixel_mask [B, H, W] (1 on the image),
        or are the whole input. mask_labels[b] [G, H, W] and
        class_labels[b] [G] are its GT (None: no GT); the processor pads
        mask_labels with its ignore_index, which the padding may hold.
        feature_sizes defaults to the shapes of
        outputs.pixel_decoder_hidden_states."""
        what = "HF outputs"
        aux = _get(outputs, "auxiliary_logits")
        if aux is None:
            raise ValueError("%s: auxiliary_logits is None: call the model with output_auxiliary_logits=True "
                             "(the stages before the last are there)" % what)
        last = {"class_queries_logits": _get(outputs, "class_queries_logits"),
                "masks_queries_logits": _get(outputs, "masks_queries_logits")}
        cls, msk = _stack_stages(list(aux) + [last], "class_queries_logits", "masks_queries_logits", what)
        B, S, Q, Hb, Wb = msk.shape
        if feature_sizes is None:
            levels = _get(outputs, "pixel_decoder_hidden_states")
            if levels is None:
                raise ValueError("%s: pixel_decoder_hidden_states is None: call the model with output_hidden_states=True, "
                                 "or pass feature_sizes= (the decoder's levels, for the attention masks)" % what)
            feature_sizes = [tuple(int(v) for v in f.shape[-2:]) for f in levels]
        sizes = self._sizes(B, Hb, Wb, pixel_mask, image_sizes)
        if (mask_labels is None) != (class_labels is None):
            raise ValueError("%s: give both mask_labels and class_labels, or neither" % what)
        if mask_labels is not None and (len(mask_labels) != B or len(class_labels) != B):
            raise ValueError("%s: %d images but %d mask_labels and %d class_labels" % (what, B, len(mask_labels), len(class_labels)))
        if indices is not None and len(indices) != B:
            raise ValueError("%s: %d images but %d indices" % (what, B, len(indices)))
        for b in range(B):
            index = int(indices[b]) if indices is not None else self.next_index()
            self.add_image(index, cls[b], msk[b], sizes[b], feature_sizes=feature_sizes,
                           gt_classes=None if class_labels is None else class_labels[b],
                           gt_masks=None if mask_labels is None else mask_labels[b],
                           what="batch image %d (image %d)" % (b, index),
                           pad_values=(0,) if ignore_index is None else (0, ignore_index))

    def _sizes(self, B, Hb, Wb, pixel_mask, image_sizes):
        if image_sizes is not None:
            if len(image_sizes) != B:
                raise ValueError("HF outputs: %d images but %d image_sizes" % (B, len(image_sizes)))
            return [image_size(s, "image_sizes[%d]" % b) for b, s in enumerate(image_sizes)]
        if pixel_mask is None:
            return [(Hb * self.stride, Wb * self.stride)] * B
        pm = torch.as_tensor(pixel_mask) != 0
        if pm.ndim != 3 or pm.shape[0] != B:
            raise ValueError("pixel_mask has shape %s, want [%d, H, W]" % (tuple(pm.shape), B))
        out = []
        for b in range(B):
            h = int(pm[b].any(dim=1).sum())
            w = int(pm[b].any(dim=0).sum())
            if h == 0 or not bool(pm[b, :h, :w].all()) or int(pm[b].sum()) != h * w:
                raise ValueError("pixel_mask of image %d is not a rectangle at the top left (the image processor pads "
                                 "at the bottom and right)" % b)
            out.append((h, w))
        return out
