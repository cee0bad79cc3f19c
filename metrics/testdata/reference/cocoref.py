#!/usr/bin/env python3
"""Test-time checker for `mpanalyze eval --gt ... --predictions ...`.

A line-by-line port of the parts of the two reference evaluators that the
Go code reimplements, for use by tests only (never a runtime dependency):

  * pycocotools (cocodataset/cocoapi, PythonAPI/pycocotools): COCO.loadRes
    for "segmentation" results, COCO.annToRLE, COCOeval with iouType "segm"
    (_prepare, evaluate, computeIoU, evaluateImg, accumulate, summarize and
    Params.setDetParams), and from common/maskApi.c the functions they call:
    rleFrString, rleFrPoly, rleMerge (union), rleArea, rleIou.
  * panopticapi (cocodataset/panopticapi): evaluation.pq_compute,
    pq_compute_single_core, PQStat.pq_average, utils.rgb2id.

pycocotools and PIL cannot be installed here (no PyPI), so the C mask
functions are ported to Python and PNGs are decoded with zlib the way
PIL's np.array(Image.open(...)) presents them (RGB/RGBA as H×W×C, grey
and palette images as H×W). Needs numpy only.

Usage:
  cocoref.py instances GT.json RESULTS.json
      prints {"stats": [12 COCOeval.stats]}
  cocoref.py panoptic GT.json GT_DIR PRED.json PRED_DIR
      prints {"All": {pq, sq, rq, n}, "Things": ..., "Stuff": ...}
  cocoref.py instances-from-panoptic GT.json GT_DIR RESULTS.json
      converts the panoptic GT to an instance GT of its thing segments as
      panopticapi's converters/panoptic2detection_coco_format.py does
      (things only: mask from the PNG, area and iscrowd from
      segments_info, annotation ids 1, 2, ...), then as "instances"
"""
import json
import math
import os
import struct
import sys
import zlib
from collections import defaultdict

import numpy as np

# ---------------------------------------------------------------- PNG (PIL)


def png_array(path):
    """np.array(PIL.Image.open(path)) for 8-bit RGB/RGBA/grey/palette and
    16-bit grey PNGs (non-interlaced)."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', path
    pos, idat = 8, b''
    while pos < len(data):
        n, typ = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if typ == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
            assert interlace == 0
        elif typ == b'IDAT':
            idat += body
        pos += 12 + n
    chans = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    bpp = chans * depth // 8
    stride = w * bpp
    raw = zlib.decompress(idat)
    out = bytearray(h * stride)
    prev = bytearray(stride)
    p = 0
    for y in range(h):
        ft = raw[p]
        line = bytearray(raw[p + 1:p + 1 + stride])
        p += 1 + stride
        if ft == 0 or ft == 2:  # none, up: vectorised
            if ft == 2:
                line = bytearray(((np.frombuffer(bytes(line), np.uint8).astype(np.int32) +
                                   np.frombuffer(bytes(prev), np.uint8)) & 255).astype(np.uint8).tobytes())
            out[y * stride:(y + 1) * stride] = line
            prev = line
            continue
        if ft == 1:  # sub: a running sum per channel
            a = np.frombuffer(bytes(line), np.uint8).reshape(-1, bpp).astype(np.int64)
            line = bytearray((np.cumsum(a, axis=0) & 255).astype(np.uint8).tobytes())
            out[y * stride:(y + 1) * stride] = line
            prev = line
            continue
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    if depth == 16:
        arr = np.frombuffer(bytes(out), dtype='>u2').reshape(h, w, chans).astype(np.uint32)
    else:
        arr = np.frombuffer(bytes(out), dtype=np.uint8).reshape(h, w, chans).astype(np.uint32)
    if chans == 1:
        return arr[:, :, 0]
    return arr


def rgb2id(color):
    # panopticapi/utils.py rgb2id
    if isinstance(color, np.ndarray) and len(color.shape) == 3:
        if color.dtype == np.uint8:
            color = color.astype(np.int32)
        return color[:, :, 0] + 256 * color[:, :, 1] + 256 * 256 * color[:, :, 2]
    return int(color[0] + 256 * color[1] + 256 * 256 * color[2])

# ---------------------------------------------------------------- maskApi.c


def rle_fr_string(s, h, w):
    cnts = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, 1
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1f) << 5 * k
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << 5 * k
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x & 0xffffffff)
    return {'h': h, 'w': w, 'cnts': cnts}


def c_int(v):
    # C's (int) cast: truncation toward zero
    return int(math.trunc(v))


def rle_fr_poly(xy, h, w):
    scale = 5.0
    k = len(xy) // 2
    x = [c_int(scale * xy[j * 2] + .5) for j in range(k)] + [0]
    y = [c_int(scale * xy[j * 2 + 1] + .5) for j in range(k)] + [0]
    x[k], y[k] = x[0], y[0]
    u, v = [], []
    for j in range(k):
        xs, xe, ys, ye = x[j], x[j + 1], y[j], y[j + 1]
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe = xe, xs
            ys, ye = ye, ys
        if dx >= dy:
            s = (ye - ys) / dx if dx else float('nan')
            for d in range(dx + 1):
                t = dx - d if flip else d
                u.append(t + xs)
                v.append(c_int(ys + s * t + .5) if dx else ys)
        else:
            s = (xe - xs) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v.append(t + ys)
                u.append(c_int(xs + s * t + .5))
    xs_, ys_ = [], []
    for j in range(1, len(u)):
        if u[j] != u[j - 1]:
            xd = float(u[j] if u[j] < u[j - 1] else u[j] - 1)
            xd = (xd + .5) / scale - .5
            if math.floor(xd) != xd or xd < 0 or xd > w - 1:
                continue
            yd = float(v[j] if v[j] < v[j - 1] else v[j - 1])
            yd = (yd + .5) / scale - .5
            if yd < 0:
                yd = 0
            elif yd > h:
                yd = h
            yd = math.ceil(yd)
            xs_.append(int(xd))
            ys_.append(int(yd))
    a = sorted([xs_[j] * h + ys_[j] for j in range(len(xs_))] + [h * w])
    p = 0
    for j in range(len(a)):
        t = a[j]
        a[j] -= p
        p = t
    b = [a[0]]
    j = 1
    while j < len(a):
        if a[j] > 0:
            b.append(a[j])
            j += 1
        else:
            j += 1
            if j < len(a):
                b[-1] += a[j]
                j += 1
    return {'h': h, 'w': w, 'cnts': b}


def rle_decode(r):
    m = np.zeros(r['h'] * r['w'], dtype=bool)
    p, v = 0, False
    for c in r['cnts']:
        if v:
            m[p:p + c] = True
        p += c
        v = not v
    return m.reshape((r['w'], r['h'])).T  # column-major


def rle_encode(mask):
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    cnts, p, c = [], False, 0
    for b in flat:
        if b != p:
            cnts.append(c)
            c = 0
            p = b
        c += 1
    cnts.append(c)
    return {'h': mask.shape[0], 'w': mask.shape[1], 'cnts': cnts}


def rle_area(r):
    return sum(r['cnts'][1::2])


def rle_to_bbox(r):
    m = decoded(r)
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return [0, 0, 0, 0]
    return [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def decoded(r):
    if '_mask' not in r:
        r['_mask'] = rle_decode(r)
    return r['_mask']


def rle_iou(dt, gt, iscrowd):
    """maskApi.c rleIou: a bbox pre-filter (bbIou), then exact counts; -1
    for a size mismatch; crowd: u = area of the detection."""
    o = np.zeros((len(dt), len(gt)))
    dbox = [rle_to_bbox(r) for r in dt]
    for g in range(len(gt)):
        G = rle_to_bbox(gt[g])
        for d in range(len(dt)):
            D = dbox[d]
            w = min(D[2] + D[0], G[2] + G[0]) - max(D[0], G[0])
            h = min(D[3] + D[1], G[3] + G[1]) - max(D[1], G[1])
            if w <= 0 or h <= 0:
                continue
            if dt[d]['h'] != gt[g]['h'] or dt[d]['w'] != gt[g]['w']:
                o[d, g] = -1
                continue
            md, mg = decoded(dt[d]), decoded(gt[g])
            i = int(np.logical_and(md, mg).sum())
            u = int(np.logical_or(md, mg).sum())
            if i == 0:
                u = 1
            elif iscrowd[g]:
                u = rle_area(dt[d])
            o[d, g] = i / u
    return o

# ---------------------------------------------------------------- pycocotools


class COCO:
    def __init__(self, dataset):
        self.dataset = dataset
        self.anns = {a['id']: a for a in dataset['annotations']}
        self.imgs = {i['id']: i for i in dataset['images']}
        self.cats = {c['id']: c for c in dataset['categories']}
        self.imgToAnns = defaultdict(list)
        for a in dataset['annotations']:
            self.imgToAnns[a['image_id']].append(a)

    def getImgIds(self):
        return list(self.imgs.keys())

    def getCatIds(self):
        return list(self.cats.keys())

    def annToRLE(self, ann):
        t = self.imgs[ann['image_id']]
        h, w = t['height'], t['width']
        segm = ann['segmentation']
        if type(segm) == list:
            # frPyObjects(polygons) + merge: the union
            rles = [rle_fr_poly(p, h, w) for p in segm]
            m = np.zeros((h, w), dtype=bool)
            for r in rles:
                m |= rle_decode(r)
            return rle_encode(m)
        if type(segm['counts']) == list:
            return {'h': segm['size'][0], 'w': segm['size'][1], 'cnts': list(segm['counts'])}
        return rle_fr_string(segm['counts'], segm['size'][0], segm['size'][1])

    def loadRes(self, anns):
        res_ds = {'images': list(self.dataset['images']), 'categories': list(self.dataset['categories'])}
        annsImgIds = [a['image_id'] for a in anns]
        assert set(annsImgIds) == (set(annsImgIds) & set(self.getImgIds())), \
            'Results do not correspond to current coco set'
        for id, ann in enumerate(anns):
            s = ann['segmentation']
            r = rle_fr_string(s['counts'], s['size'][0], s['size'][1]) if isinstance(s['counts'], str) else \
                {'h': s['size'][0], 'w': s['size'][1], 'cnts': list(s['counts'])}
            ann['area'] = rle_area(r)
            ann['id'] = id + 1
            ann['iscrowd'] = 0
        res_ds['annotations'] = anns
        return COCO(res_ds)


class COCOevalSegm:
    def __init__(self, cocoGt, cocoDt):
        self.cocoGt, self.cocoDt = cocoGt, cocoDt
        self.imgIds = sorted(cocoGt.getImgIds())
        self.catIds = sorted(cocoGt.getCatIds())
        self.iouThrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.recThrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
        self.maxDets = [1, 10, 100]
        self.areaRng = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]

    def _prepare(self):
        gts = [a for a in self.cocoGt.dataset['annotations'] if a['image_id'] in self.imgIds and a['category_id'] in self.catIds]
        dts = [a for a in self.cocoDt.dataset['annotations'] if a['image_id'] in self.imgIds and a['category_id'] in self.catIds]
        for ann in gts:
            ann['segmentation'] = self.cocoGt.annToRLE(ann)
        for ann in dts:
            ann['segmentation'] = self.cocoDt.annToRLE(ann)
        for gt in gts:
            gt['ignore'] = gt['ignore'] if 'ignore' in gt else 0
            gt['ignore'] = 'iscrowd' in gt and gt['iscrowd']
        self._gts = defaultdict(list)
        self._dts = defaultdict(list)
        for gt in gts:
            self._gts[gt['image_id'], gt['category_id']].append(gt)
        for dt in dts:
            self._dts[dt['image_id'], dt['category_id']].append(dt)

    def evaluate(self):
        self.imgIds = list(np.unique(self.imgIds))
        self.catIds = list(np.unique(self.catIds))
        self._prepare()
        self.ious = {(i, c): self.computeIoU(i, c) for i in self.imgIds for c in self.catIds}
        maxDet = self.maxDets[-1]
        self.evalImgs = [self.evaluateImg(i, c, a, maxDet) for c in self.catIds for a in self.areaRng for i in self.imgIds]

    def computeIoU(self, imgId, catId):
        gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
        if len(gt) == 0 and len(dt) == 0:
            return []
        inds = np.argsort([-d['score'] for d in dt], kind='mergesort')
        dt = [dt[i] for i in inds]
        if len(dt) > self.maxDets[-1]:
            dt = dt[0:self.maxDets[-1]]
        g = [g['segmentation'] for g in gt]
        d = [d['segmentation'] for d in dt]
        iscrowd = [int(o['iscrowd']) for o in gt]
        if len(d) == 0 or len(g) == 0:
            return []
        return rle_iou(d, g, iscrowd)

    def evaluateImg(self, imgId, catId, aRng, maxDet):
        gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
        if len(gt) == 0 and len(dt) == 0:
            return None
        for g in gt:
            g['_ignore'] = 1 if (g['ignore'] or (g['area'] < aRng[0] or g['area'] > aRng[1])) else 0
        gtind = np.argsort([g['_ignore'] for g in gt], kind='mergesort')
        gt = [gt[i] for i in gtind]
        dtind = np.argsort([-d['score'] for d in dt], kind='mergesort')
        dt = [dt[i] for i in dtind[0:maxDet]]
        iscrowd = [int(o['iscrowd']) for o in gt]
        ious = self.ious[imgId, catId][:, gtind] if len(self.ious[imgId, catId]) > 0 else self.ious[imgId, catId]
        T, G, D = len(self.iouThrs), len(gt), len(dt)
        gtm, dtm = np.zeros((T, G)), np.zeros((T, D))
        gtIg = np.array([g['_ignore'] for g in gt])
        dtIg = np.zeros((T, D))
        if not len(ious) == 0:
            for tind, t in enumerate(self.iouThrs):
                for dind, d in enumerate(dt):
                    iou = min([t, 1 - 1e-10])
                    m = -1
                    for gind, g in enumerate(gt):
                        if gtm[tind, gind] > 0 and not iscrowd[gind]:
                            continue
                        if m > -1 and gtIg[m] == 0 and gtIg[gind] == 1:
                            break
                        if ious[dind, gind] < iou:
                            continue
                        iou = ious[dind, gind]
                        m = gind
                    if m == -1:
                        continue
                    dtIg[tind, dind] = gtIg[m]
                    dtm[tind, dind] = gt[m]['id']
                    gtm[tind, m] = d['id']
        a = np.array([d['area'] < aRng[0] or d['area'] > aRng[1] for d in dt]).reshape((1, len(dt)))
        dtIg = np.logical_or(dtIg, np.logical_and(dtm == 0, np.repeat(a, T, 0)))
        return {'dtMatches': dtm, 'dtScores': [d['score'] for d in dt], 'gtIgnore': gtIg, 'dtIgnore': dtIg}

    def accumulate(self):
        T, R, K, A, M = len(self.iouThrs), len(self.recThrs), len(self.catIds), len(self.areaRng), len(self.maxDets)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        I0, A0 = len(self.imgIds), len(self.areaRng)
        for k in range(K):
            Nk = k * A0 * I0
            for a in range(A):
                Na = a * I0
                for m, maxDet in enumerate(self.maxDets):
                    E = [self.evalImgs[Nk + Na + i] for i in range(I0)]
                    E = [e for e in E if e is not None]
                    if len(E) == 0:
                        continue
                    dtScores = np.concatenate([e['dtScores'][0:maxDet] for e in E])
                    inds = np.argsort(-dtScores, kind='mergesort')
                    dtm = np.concatenate([e['dtMatches'][:, 0:maxDet] for e in E], axis=1)[:, inds]
                    dtIg = np.concatenate([e['dtIgnore'][:, 0:maxDet] for e in E], axis=1)[:, inds]
                    gtIg = np.concatenate([e['gtIgnore'] for e in E])
                    npig = np.count_nonzero(gtIg == 0)
                    if npig == 0:
                        continue
                    tps = np.logical_and(dtm, np.logical_not(dtIg))
                    fps = np.logical_and(np.logical_not(dtm), np.logical_not(dtIg))
                    tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
                    fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
                    for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
                        tp, fp = np.array(tp), np.array(fp)
                        nd = len(tp)
                        rc = tp / npig
                        pr = tp / (fp + tp + np.spacing(1))
                        q = np.zeros((R,))
                        recall[t, k, a, m] = rc[-1] if nd else 0
                        pr, q = pr.tolist(), q.tolist()
                        for i in range(nd - 1, 0, -1):
                            if pr[i] > pr[i - 1]:
                                pr[i - 1] = pr[i]
                        inds = np.searchsorted(rc, self.recThrs, side='left')
                        try:
                            for ri, pi in enumerate(inds):
                                q[ri] = pr[pi]
                        except IndexError:
                            pass
                        precision[t, :, k, a, m] = np.array(q)
        self.precision, self.recall = precision, recall

    def summarize(self):
        def s_(ap=1, iouThr=None, areaRng='all', maxDets=100):
            aind = [['all', 'small', 'medium', 'large'].index(areaRng)]
            mind = [self.maxDets.index(maxDets)]
            if ap == 1:
                s = self.precision
                if iouThr is not None:
                    s = s[np.where(iouThr == self.iouThrs)[0]]
                s = s[:, :, :, aind, mind]
            else:
                s = self.recall
                if iouThr is not None:
                    s = s[np.where(iouThr == self.iouThrs)[0]]
                s = s[:, :, aind, mind]
            return -1 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))
        return [s_(1), s_(1, iouThr=.5), s_(1, iouThr=.75), s_(1, areaRng='small'), s_(1, areaRng='medium'),
                s_(1, areaRng='large'), s_(0, maxDets=1), s_(0, maxDets=10), s_(0), s_(0, areaRng='small'),
                s_(0, areaRng='medium'), s_(0, areaRng='large')]

# ---------------------------------------------------------------- panopticapi

OFFSET = 256 * 256 * 256
VOID = 0


def pq_compute(gt_json, pred_json, gt_folder, pred_folder):
    categories = {el['id']: el for el in gt_json['categories']}
    pred_annotations = {el['image_id']: el for el in pred_json['annotations']}
    stat = defaultdict(lambda: {'iou': 0.0, 'tp': 0, 'fp': 0, 'fn': 0})
    for gt_ann in gt_json['annotations']:
        image_id = gt_ann['image_id']
        if image_id not in pred_annotations:
            raise Exception('no prediction for the image with id: {}'.format(image_id))
        pred_ann = pred_annotations[image_id]
        pan_gt = rgb2id(png_array(os.path.join(gt_folder, gt_ann['file_name'])))
        pan_pred = rgb2id(png_array(os.path.join(pred_folder, pred_ann['file_name'])))
        gt_segms = {el['id']: dict(el) for el in gt_ann['segments_info']}
        pred_segms = {el['id']: dict(el) for el in pred_ann['segments_info']}
        pred_labels_set = set(el['id'] for el in pred_ann['segments_info'])
        labels, labels_cnt = np.unique(pan_pred, return_counts=True)
        for label, label_cnt in zip(labels, labels_cnt):
            if label not in pred_segms:
                if label == VOID:
                    continue
                raise KeyError('segment {} in PNG and not in JSON'.format(label))
            pred_segms[label]['area'] = label_cnt
            pred_labels_set.remove(label)
            if pred_segms[label]['category_id'] not in categories:
                raise KeyError('unknown category_id')
        if len(pred_labels_set) != 0:
            raise KeyError('segments in JSON and not in PNG')
        pan_gt_pred = pan_gt.astype(np.uint64) * OFFSET + pan_pred.astype(np.uint64)
        gt_pred_map = {}
        labels, labels_cnt = np.unique(pan_gt_pred, return_counts=True)
        for label, intersection in zip(labels, labels_cnt):
            gt_pred_map[(label // OFFSET, label % OFFSET)] = intersection
        gt_matched, pred_matched = set(), set()
        for (gt_label, pred_label), intersection in gt_pred_map.items():
            if gt_label not in gt_segms or pred_label not in pred_segms:
                continue
            if gt_segms[gt_label]['iscrowd'] == 1:
                continue
            if gt_segms[gt_label]['category_id'] != pred_segms[pred_label]['category_id']:
                continue
            union = pred_segms[pred_label]['area'] + gt_segms[gt_label]['area'] - intersection - gt_pred_map.get((VOID, pred_label), 0)
            iou = intersection / union
            if iou > 0.5:
                st = stat[gt_segms[gt_label]['category_id']]
                st['tp'] += 1
                st['iou'] += iou
                gt_matched.add(gt_label)
                pred_matched.add(pred_label)
        crowd_labels_dict = {}
        for gt_label, gt_info in gt_segms.items():
            if gt_label in gt_matched:
                continue
            if gt_info['iscrowd'] == 1:
                crowd_labels_dict[gt_info['category_id']] = gt_label
                continue
            stat[gt_info['category_id']]['fn'] += 1
        for pred_label, pred_info in pred_segms.items():
            if pred_label in pred_matched:
                continue
            intersection = gt_pred_map.get((VOID, pred_label), 0)
            if pred_info['category_id'] in crowd_labels_dict:
                intersection += gt_pred_map.get((crowd_labels_dict[pred_info['category_id']], pred_label), 0)
            if intersection / pred_info['area'] > 0.5:
                continue
            stat[pred_info['category_id']]['fp'] += 1
    results = {}
    for name, isthing in [('All', None), ('Things', True), ('Stuff', False)]:
        pq = sq = rq = n = 0
        for label, label_info in categories.items():
            if isthing is not None and (label_info['isthing'] == 1) != isthing:
                continue
            st = stat[label]
            tp, fp, fn, iou = st['tp'], st['fp'], st['fn'], st['iou']
            if tp + fp + fn == 0:
                continue
            n += 1
            pq += iou / (tp + 0.5 * fp + 0.5 * fn)
            sq += iou / tp if tp != 0 else 0
            rq += tp / (tp + 0.5 * fp + 0.5 * fn)
        results[name] = {'pq': pq / n if n else 0.0, 'sq': sq / n if n else 0.0, 'rq': rq / n if n else 0.0, 'n': n}
    return results


def panoptic_to_detection(gt, gt_folder):
    cats = {c['id']: c for c in gt['categories']}
    anns = []
    for a in gt['annotations']:
        pan = rgb2id(png_array(os.path.join(gt_folder, a['file_name'])))
        for s in a['segments_info']:
            if cats[s['category_id']]['isthing'] != 1:
                continue
            r = rle_encode(pan == s['id'])
            anns.append({'id': len(anns) + 1, 'image_id': a['image_id'], 'category_id': s['category_id'],
                         'segmentation': {'size': [r['h'], r['w']], 'counts': r['cnts']},
                         'area': s['area'], 'iscrowd': s['iscrowd']})
    return {'images': gt['images'], 'annotations': anns,
            'categories': [c for c in gt['categories'] if c['isthing'] == 1]}


def main():
    if sys.argv[1] == 'instances-from-panoptic':
        gt = COCO(panoptic_to_detection(json.load(open(sys.argv[2])), sys.argv[3]))
        dt = gt.loadRes(json.load(open(sys.argv[4])))
        e = COCOevalSegm(gt, dt)
        e.evaluate()
        e.accumulate()
        print(json.dumps({'stats': e.summarize()}))
    elif sys.argv[1] == 'instances':
        gt = COCO(json.load(open(sys.argv[2])))
        dt = gt.loadRes(json.load(open(sys.argv[3])))
        e = COCOevalSegm(gt, dt)
        e.evaluate()
        e.accumulate()
        print(json.dumps({'stats': e.summarize()}))
    else:
        print(json.dumps(pq_compute(json.load(open(sys.argv[2])), json.load(open(sys.argv[4])), sys.argv[3], sys.argv[5])))


if __name__ == '__main__':
    main()
