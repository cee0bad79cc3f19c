"""The adapters on tiny models built to the real interfaces (tests/tiny.py).

Each test records a batch of three images of different sizes (so that the
batch is padded and each image's padding must be cropped) and checks the
trace's arrays against the raw outputs sliced here. With
MPANALYZE_PYTEST_OUT set, the traces and the reference figures computed in
numpy from the raw outputs (tests/reference.py) are left there, named
<name>.npz/.json and <name>.ref.json, for the Go side to analyse and compare
(probes.TestPythonPackage).
"""

import json
import os
import sys
import tempfile
import unittest
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mpanalyze_trace as mt  # noqa: E402
import mpanalyze_trace.trace as trace_module  # noqa: E402
import reference  # noqa: E402
import tiny  # noqa: E402

# Three images of different sizes (input pixels, as after the test-time
# resize): the batch pads them to 64x64 (size_divisibility 32), 16x16 cells.
SIZES = [(37, 50), (64, 41), (20, 24)]
GT_COUNTS = [2, 0, 3]
CLASSES = 3


def out_dir():
    d = os.environ.get("MPANALYZE_PYTEST_OUT")
    if d:
        os.makedirs(d, exist_ok=True)
        return d
    return tempfile.mkdtemp(prefix="mpanalyze_trace_test_")


def make_gt(g, h, w, n):
    """n GT segments at h x w: rectangles of random extent (disjoint
    enough to be matched)."""
    masks = torch.zeros(n, h, w, dtype=torch.bool)
    for i in range(n):
        y0 = int(torch.randint(0, h // 2, (1,), generator=g))
        x0 = int(torch.randint(0, w // 2, (1,), generator=g))
        y1 = y0 + 1 + int(torch.randint(0, h - y0, (1,), generator=g))
        x1 = x0 + 1 + int(torch.randint(0, w - x0, (1,), generator=g))
        masks[i, y0:y1, x0:x1] = True
    return torch.randint(0, CLASSES, (n,), generator=g), masks


def make_batch(seed):
    """detectron2 dataset items (as a mapper that keeps the annotations
    gives them: image at its resized size, instances with bitmask GT)."""
    g = torch.Generator().manual_seed(seed)
    batch = []
    for i, ((h, w), n) in enumerate(zip(SIZES, GT_COUNTS)):
        classes, masks = make_gt(g, h, w, n)
        batch.append({"image": torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8),
                      "image_id": 100 + i, "height": h, "width": w,
                      "instances": tiny.Instances(classes, tiny.BitMasks(masks))})
    return batch


class RawHook:
    """Keeps the decoder's raw output and inputs (the reference's source)."""

    def __init__(self, module):
        self.out = None
        self.handle = module.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        self.out = output
        self.sizes = [tuple(f.shape[-2:]) for f in inputs[0]]


def raw_stages(out):
    seq = list(out["aux_outputs"]) + [out]
    return (torch.stack([s["pred_logits"] for s in seq], 1).numpy(),
            torch.stack([s["pred_masks"] for s in seq], 1).numpy())


def reference_images(cls, logits, decoder, batch_sizes, gts, input_size):
    """The reference's images from raw batch outputs."""
    ims = []
    for b, (h, w) in enumerate(batch_sizes):
        classes, masks = gts[b]
        ims.append({"cls": cls[b], "logits": logits[b], "size": (h, w), "input": input_size,
                    "classes": np.asarray(classes, int), "gt": np.asarray(masks, bool),
                    "attn": [(a[0][b].numpy(), a[1][b].numpy()) for a in decoder.used_attn]})
    return ims


def read_trace(base):
    """The trace's images as numpy arrays, by TRACE.md's reader."""
    side = load_json(base + ".json")
    with np.load(base + ".npz") as f:
        return side, trace_images(side, f)


def trace_images(side, f):
    compact = side["storage"]["layout"] == "compact"
    rle = {a["name"]: a["rle"] for a in side["arrays"] if "rle" in a}

    def masks(name):
        return mt.unrle(f[name + "_runs"], f[name + "_nruns"], rle[name + "_runs"])

    out = {}
    for im in side["images"]:
        p = "img%d/" % im["index"]
        d = {"masks": masks(p + "mask") if compact else f[p + "mask_logits"].astype(np.float32) > 0,
             "class_logits": f[p + "class_logits"].astype(np.float32), "attn": {}}
        if not compact:
            d["mask_logits"] = f[p + "mask_logits"]
        for s in range(side["run"]["num_stages"]):
            if compact and p + "attn_s%d_runs" % s in rle:
                d["attn"][s] = masks(p + "attn_s%d" % s)
            elif not compact and p + "attn_mask_s%d" % s in f.files:
                d["attn"][s] = f[p + "attn_mask_s%d" % s]
        d["unblocked"] = f[p + "unblocked"]
        if im["has_gt"]:
            d["gt_classes"] = f[p + "gt_classes"]
            d["gt_masks"] = masks(p + "gt") if compact else f[p + "gt_masks"].astype(bool)
            if im.get("cover"):
                d["gt_cover"] = f[p + "gt_cover"]
        if im["match"]:
            d["match"] = f[p + "match"]
        out[im["index"]] = d
    return out


def load_json(path):
    with open(path) as fp:
        return json.load(fp)


def save_reference(base, figs, what):
    with open(base + ".ref.json", "w") as fp:
        json.dump({"what": what, "figures": figs}, fp, indent=1)


class AdapterCase(unittest.TestCase):
    """Checks shared by the adapters' tests."""

    def check_trace(self, base, cls, logits, decoder, gts, input_size, frame, compact, indices):
        side, imgs = read_trace(base)
        Hf, Wf = frame
        self.assertEqual((side["run"]["mask_h"], side["run"]["mask_w"]), frame)
        ref = reference_images(cls, logits, decoder, SIZES, gts, input_size)
        figs, matches = reference.figures(ref)
        for b, idx in enumerate(indices):
            d, r = imgs[idx], ref[b]
            h, w = SIZES[b]
            vh, vw = mt.cells(h), mt.cells(w)
            # The image's cells are the raw logits' top left; the rest is padding.
            np.testing.assert_array_equal(d["masks"][:, :, :vh, :vw], logits[b][:, :, :vh, :vw] > 0)
            self.assertFalse(d["masks"][:, :, vh:, :].any() or d["masks"][:, :, :, vw:].any())
            if not compact:
                np.testing.assert_array_equal(d["mask_logits"][:, :, :vh, :vw], logits[b][:, :, :vh, :vw])
                self.assertTrue((d["mask_logits"][:, :, vh:, :] == mt.PAD_LOGIT).all())
            tol = 1e-3 if compact else 0  # compact: float16 class logits
            np.testing.assert_allclose(d["class_logits"], cls[b], atol=tol * np.abs(cls[b]).max(), rtol=0)
            # The attention masks are those the decoder used, cropped to the image.
            self.assertEqual(sorted(d["attn"]), list(range(len(decoder.used_attn))))
            for s, (blocked, unblocked) in enumerate(decoder.used_attn):
                fh, fw = blocked.shape[-2:]
                ah, aw = -(-h * fh // input_size[0]), -(-w * fw // input_size[1])
                np.testing.assert_array_equal(d["attn"][s], blocked[b, :, :ah, :aw].numpy())
                np.testing.assert_array_equal(d["unblocked"][s].astype(bool), unblocked[b].numpy())
            # GT: classes, the cells covered at least half, the matchings.
            np.testing.assert_array_equal(d["gt_classes"], r["classes"])
            want = reference.cover(r["gt"], h, w)
            gm = np.zeros((len(r["classes"]), Hf, Wf), bool)
            gm[:, :vh, :vw] = want * 2 >= 16
            np.testing.assert_array_equal(d["gt_masks"], gm)
            if "gt_cover" in d:
                np.testing.assert_array_equal(d["gt_cover"][:, :vh, :vw], want)
            np.testing.assert_array_equal(d["match"], matches[b])
        return figs


class TestDetectron2(AdapterCase):
    def record(self, name, model, batch, compact=False, recorder=mt.Detectron2Recorder, **kw):
        base = os.path.join(out_dir(), name)
        hook = RawHook(model.sem_seg_head.predictor)
        with mt.TraceWriter(base, {"model": "test", "seed": 1}, compact=compact, matchings="scipy", **kw) as w:
            with recorder(model, w) as rec:
                with torch.no_grad():
                    model(batch)
                rec.add(batch)
        hook.handle.remove()
        return base, hook

    def test_mask2former(self):
        torch.manual_seed(0)
        dec = tiny.TinyDecoder(num_classes=CLASSES)
        model = tiny.TinyMetaArch(dec).eval()
        batch = make_batch(1)
        base, hook = self.record("detectron2", model, batch)
        cls, logits = raw_stages(hook.out)
        self.assertEqual(logits.shape[-2:], (16, 16))  # the batch's padded 64x64 input at stride 4
        gts = [(it["instances"].gt_classes, it["instances"].gt_masks.tensor) for it in batch]
        figs = self.check_trace(base, cls, logits, dec, gts, (64, 64), (16, 16), False, [100, 101, 102])
        save_reference(base, figs, "detectron2 Mask2Former, full layout")
        side = load_json(base + ".json")
        self.assertEqual(side["run"]["model"], "test")
        self.assertEqual(side["run"]["num_stages"], dec.num_layers + 1)
        self.assertTrue(side["run"]["tool_version"].startswith(mt.TOOL))

    def test_mpformer_ignores_pilots(self):
        torch.manual_seed(0)
        dec = tiny.TinyMPDecoder(num_classes=CLASSES)
        model = tiny.TinyMetaArch(dec).eval()
        batch = make_batch(2)
        base, hook = self.record("mpformer", model, batch, compact=True, recorder=mt.MPFormerRecorder)
        self.assertIsNone(hook.out["dn_out"])
        cls, logits = raw_stages(hook.out)
        gts = [(it["instances"].gt_classes, it["instances"].gt_masks.tensor) for it in batch]
        figs = self.check_trace(base, cls, logits, dec, gts, (64, 64), (16, 16), True, [100, 101, 102])
        save_reference(base, figs, "MP-Former, compact layout")
        side = load_json(base + ".json")
        self.assertEqual(side["run"]["model"], "test")
        # With mask-pilot rows (training-time dn_args), dn_out holds them and
        # the trace is the same: the matching queries only.
        model.dn_args = {"pilots": 4}
        base2, hook2 = self.record("mpformer_pilots", model, batch, compact=True, recorder=mt.MPFormerRecorder)
        self.assertEqual(hook2.out["dn_out"]["pred_masks"].shape[1], 4)
        a, b = read_trace(base)[1], read_trace(base2)[1]
        for idx in a:
            for k in ("masks", "match", "unblocked", "gt_masks"):
                np.testing.assert_array_equal(a[idx][k], b[idx][k])
        os.remove(base2 + ".npz")
        os.remove(base2 + ".json")

    def test_default_model_name_and_frame(self):
        dec = tiny.TinyMPDecoder(num_classes=CLASSES)
        model = tiny.TinyMetaArch(dec).eval()
        batch = make_batch(3)
        with tempfile.TemporaryDirectory() as d:
            with mt.TraceWriter(os.path.join(d, "t"), compact=True) as w:
                with mt.MPFormerRecorder(model, w, frame=(96, 80)) as rec, torch.no_grad():
                    model(batch)
                    rec.add(batch)
            side = load_json(os.path.join(d, "t.json"))
        self.assertEqual(side["run"]["model"], "mpformer")
        self.assertEqual((side["run"]["mask_h"], side["run"]["mask_w"]), (24, 20))

    def test_errors(self):
        dec = tiny.TinyDecoder(num_classes=CLASSES)
        model = tiny.TinyMetaArch(dec).eval()
        d = tempfile.mkdtemp()
        w = mt.TraceWriter(os.path.join(d, "t"))
        rec = mt.Detectron2Recorder(model, w)

        def run(batch, msg):
            with torch.no_grad():
                model(batch)
            with self.assertRaises(ValueError) as c:
                rec.add(batch)
            self.assertIn(msg, str(c.exception))

        with self.assertRaises(RuntimeError):
            rec.add(make_batch(1))
        with torch.no_grad():
            model(make_batch(1))
            model(make_batch(2))
        with self.assertRaises(RuntimeError) as c:
            rec.add(make_batch(2))
        self.assertIn("the decoder ran 2 times since the last add(batch)", str(c.exception))
        # The test-time mapper drops the annotations.
        b = make_batch(1)
        del b[1]["instances"]
        run(b, "has no 'instances': detectron2's test-time DatasetMapper drops the annotations")
        # GT at the original size, not resized with the image.
        b = make_batch(1)
        b[0]["instances"].gt_masks = tiny.BitMasks(torch.zeros(2, 30, 40, dtype=torch.bool))
        run(b, "GT masks are 30x40 pixels but the image the model saw is 37x50: resize the annotations")
        # GT with pixels beyond the image.
        b = make_batch(1)
        m = torch.zeros(2, 64, 64, dtype=torch.bool)
        m[:, 50, 10] = True
        b[0]["instances"].gt_masks = tiny.BitMasks(m)
        run(b, "have pixels outside the image's 37x50")
        # Polygons.
        b = make_batch(1)
        b[0]["instances"].gt_masks = tiny.PolygonMasks([[]])
        run(b, "gt_masks are polygons: build the mapper with instance_mask_format='bitmask'")
        # Classes and masks disagree.
        b = make_batch(1)
        b[0]["instances"].gt_classes = torch.tensor([1, 2, 0])
        run(b, "3 GT classes but GT masks of shape (2, 37, 50)")
        rec.remove()
        w.abort()
        # An image larger than the frame the first batch set.
        w = mt.TraceWriter(os.path.join(d, "t2"), compact=True)
        rec = mt.Detectron2Recorder(model, w)
        small = make_batch(1)[:1]
        small[0]["image"] = small[0]["image"][:, :30, :30]
        small[0]["instances"] = tiny.Instances(torch.tensor([0]), tiny.BitMasks(torch.ones(1, 30, 30, dtype=torch.bool)))
        with torch.no_grad():
            model(small)
        rec.add(small)
        run(make_batch(1), "do not fit the trace's 8x8-cell frame (32x32 pixels); give the recorder frame=(H, W)")
        rec.remove()
        w.abort()


class TestHF(AdapterCase):
    def hf_inputs(self, seed):
        """What Mask2FormerImageProcessor gives: pixel_values and pixel_mask
        padded to the batch's largest image (here rounded to 32), and
        mask_labels padded the same way with its ignore_index (255),
        class_labels."""
        batch = make_batch(seed)
        pixel_values = tiny.pad_batch([it["image"].float() / 255 for it in batch])
        pixel_mask = tiny.pad_batch([torch.ones(1, *it["image"].shape[-2:]) for it in batch])[:, 0].long()
        H, W = pixel_values.shape[-2:]
        mask_labels, class_labels = [], []
        for it in batch:
            m = it["instances"].gt_masks.tensor
            p = torch.full((m.shape[0], H, W), 255.0)
            p[:, :m.shape[1], :m.shape[2]] = m.float()
            mask_labels.append(p)
            class_labels.append(it["instances"].gt_classes)
        return batch, pixel_values, pixel_mask, mask_labels, class_labels

    def test_hf(self):
        torch.manual_seed(0)
        dec = tiny.TinyDecoder(num_classes=CLASSES)
        model = tiny.TinyHF(dec).eval()
        batch, pv, pm, ml, cl = self.hf_inputs(4)
        base = os.path.join(out_dir(), "hf")
        with torch.no_grad():
            out = model(pixel_values=pv, pixel_mask=pm, output_auxiliary_logits=True, output_hidden_states=True)
        with mt.TraceWriter(base, {"seed": 4}, compact=True, float16=True, matchings="scipy") as w:
            rec = mt.HFRecorder(w)
            rec.add(out, pixel_mask=pm, mask_labels=ml, class_labels=cl, ignore_index=255, indices=[7, 8, 9])
        cls = torch.stack([a["class_queries_logits"] for a in out.auxiliary_logits] + [out.class_queries_logits], 1).numpy()
        logits = torch.stack([a["masks_queries_logits"] for a in out.auxiliary_logits] + [out.masks_queries_logits], 1).numpy()
        gts = [(it["instances"].gt_classes, it["instances"].gt_masks.tensor) for it in batch]
        figs = self.check_trace(base, cls, logits, dec, gts, (64, 64), (16, 16), True, [7, 8, 9])
        save_reference(base, figs, "HF transformers Mask2Former, compact layout with float16 logits")
        self.assertEqual(load_json(base + ".json")["run"]["model"], "mask2former")

    def test_padded_and_unpadded_gt_agree(self):
        """GT of several sizes in one batch: padded like the input (HF) or
        at each image's own size (detectron2), the same trace GT."""
        batch, pv, pm, ml, cl = self.hf_inputs(5)
        frame = (16, 16)
        for b, it in enumerate(batch):
            size = tuple(it["image"].shape[-2:])
            a = mt.gt_in_frame(ml[b], size, frame, pad_values=(0, 255))
            c = mt.gt_in_frame(it["instances"].gt_masks.tensor, size, frame)
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(a[:, :mt.cells(size[0]), :mt.cells(size[1])],
                                          reference.cover(it["instances"].gt_masks.tensor.numpy(), *size))

    def test_errors(self):
        dec = tiny.TinyDecoder(num_classes=CLASSES)
        model = tiny.TinyHF(dec).eval()
        batch, pv, pm, ml, cl = self.hf_inputs(6)
        w = mt.TraceWriter(os.path.join(tempfile.mkdtemp(), "t"))
        rec = mt.HFRecorder(w)
        with torch.no_grad():
            bare = model(pixel_values=pv, pixel_mask=pm)
            noh = model(pixel_values=pv, pixel_mask=pm, output_auxiliary_logits=True)
        for out, msg in ((bare, "output_auxiliary_logits=True"), (noh, "output_hidden_states=True")):
            with self.assertRaises(ValueError) as c:
                rec.add(out, pixel_mask=pm)
            self.assertIn(msg, str(c.exception))
        # The processor's padding of mask_labels (255) needs ignore_index.
        with self.assertRaises(ValueError) as c:
            rec.add(noh, pixel_mask=pm, mask_labels=ml, class_labels=cl, feature_sizes=[(2, 2), (4, 4), (8, 8)])
        self.assertIn("pixels outside the image's 37x50 (values 255)", str(c.exception))
        self.assertIn("pass ignore_index=", str(c.exception))
        bad = pm.clone()
        bad[0, 0, 0] = 0
        with self.assertRaises(ValueError) as c:
            rec.add(noh, pixel_mask=bad, feature_sizes=[(2, 2), (4, 4), (8, 8)])
        self.assertIn("pixel_mask of image 0 is not a rectangle at the top left", str(c.exception))
        with self.assertRaises(ValueError) as c:
            mt.official_stages(noh)
        self.assertIn("use HFRecorder", str(c.exception))
        w.abort()


class TestWriter(unittest.TestCase):
    def test_frame_and_shape_errors(self):
        w = mt.TraceWriter(os.path.join(tempfile.mkdtemp(), "t"), matchings="none")
        st = [(torch.zeros(2, 3), torch.zeros(2, 4, 4))]
        w.add_image(0, st)
        with self.assertRaises(ValueError) as c:
            w.add_image(1, [(torch.zeros(2, 3), torch.zeros(2, 4, 5))])
        self.assertIn("image 1: mask_w 5, the trace has 4 (from its first image); every image of a trace is in one frame", str(c.exception))
        with self.assertRaises(ValueError) as c:
            w.add_image(2, st, gt_classes=torch.zeros(1, 1), gt_masks=torch.zeros(1, 4, 4))
        self.assertIn("gt_classes has shape (1, 1), want [G]", str(c.exception))
        with self.assertRaises(ValueError) as c:
            w.add_image(3, st, gt_classes=torch.zeros(2), gt_masks=torch.zeros(2, 2, 8))
        self.assertIn("gt_masks has shape (2, 2, 8), want (2, 4, 4)", str(c.exception))
        with self.assertRaises(ValueError) as c:
            mt.frame_cells((1343, 1344))
        self.assertIn("positive multiples of 4", str(c.exception))
        with self.assertRaises(ValueError) as c:
            mt.place_image(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4, 4), (20, 8), (8, 8))
        self.assertIn("the image is 20x8 pixels (5x2 cells at stride 4) but the mask logits cover 4x4 cells", str(c.exception))
        w.abort()

    def test_storage_warning(self):
        old = trace_module.WARN_BYTES
        trace_module.WARN_BYTES = 100
        try:
            for compact, want in ((False, 1), (True, 0)):
                w = mt.TraceWriter(os.path.join(tempfile.mkdtemp(), "t"), compact=compact, matchings="none")
                with warnings.catch_warnings(record=True) as got:
                    warnings.simplefilter("always")
                    for i in range(2):
                        w.add_image(i, [(torch.zeros(2, 3), torch.zeros(2, 8, 8))])
                w.abort()
                self.assertEqual(len(got), want, [str(x.message) for x in got])
                if want:
                    self.assertIn("compact=True stores what the figures need", str(got[0].message))
        finally:
            trace_module.WARN_BYTES = old

    def test_rle_round_trip(self):
        g = torch.Generator().manual_seed(3)
        a = (torch.rand(3, 2, 70, 1000, generator=g) < 0.5).numpy()
        a[0, 0] = True  # one run of 70000 > 65535
        runs, nruns = mt.rle(a)
        np.testing.assert_array_equal(mt.unrle(runs, nruns, a.shape), a)


if __name__ == "__main__":
    unittest.main()
