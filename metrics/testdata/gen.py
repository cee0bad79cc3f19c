#!/usr/bin/env python3
"""Writes coco_ap_cases.json and pq_cases.json, the reference cases of
metrics/reference_test.go.

Each case is a small random dataset together with the numbers the reference
evaluators give for it:

  * coco_ap_cases.json: 1-4 images of 8x8 masks, 1-3 categories, crowd GT,
    empty masks, score ties (scores are tenths), sometimes more than 10
    detections per image, and an area scale (1, 20, 200, 400 or 1000) that
    multiplies pixel counts so that every COCO area range occurs. "stats"
    is COCOeval.stats (the 12 numbers of summarize) with iouType "segm".
  * pq_cases.json: 1-3 images of 6x8 segment id maps (0 = void), 1-4
    categories (things and stuff), crowd GT, predictions that perturb the
    GT or are unrelated to it. "res" is [PQ, SQ, RQ, N] for All, Things
    and Stuff as panopticapi's pq_compute returns them.

The reference numbers come from metrics/testdata/reference/cocoref.py,
the test-time port of pycocotools' COCOeval and panopticapi's pq_compute
that the CLI's tests also use (imported from there, not copied). The masks
are handed to it as a COCO user would: uncompressed RLE for COCOeval, RGB
PNGs (id = R + 256 G + 256^2 B) for pq_compute.

One harness rule is not COCO's: the Go test scales every area (GT and
detections) by the case's scale (InstanceSettings.AreaScale), so here the GT
"area" fields are pixels x scale and, after COCO.loadRes has set each
result's area to its pixel count, the results' areas are multiplied by
scale too.

Randomness comes from splitmix64 seeded per case (seed, file, case index),
so the output depends only on --seed and --cases, not on Python's or
numpy's random generators, and the first n cases of a longer run equal a
run of n cases.

Run with Debian's python3 and numpy (python3-numpy), from anywhere:

    /usr/bin/python3 metrics/testdata/gen.py            # rewrites both files
    /usr/bin/python3 metrics/testdata/gen.py --out DIR --cases 600

metrics/reference_gen_test.go runs it and checks that it reproduces the
committed files.
"""
import argparse
import json
import os
import struct
import sys
import tempfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'reference'))
import cocoref  # noqa: E402

MASK64 = (1 << 64) - 1


class Rand:
    """splitmix64 (Steele, Lea and Flood 2014): a tiny generator whose
    output is fixed by its seed alone."""

    def __init__(self, seed):
        self.s = seed & MASK64

    def u64(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        return self.u64() % n

    def between(self, lo, hi):
        """An integer in [lo, hi]."""
        return lo + self.below(hi - lo + 1)

    def chance(self, p):
        return (self.u64() >> 11) < p * (1 << 53)

    def pick(self, seq):
        return seq[self.below(len(seq))]


def case_rand(seed, kind, i):
    return Rand((seed << 32) ^ (kind << 24) ^ i)


# ------------------------------------------------------------------ masks


def rect(r, h, w):
    m = np.zeros((h, w), dtype=bool)
    y0, x0 = r.below(h), r.below(w)
    m[y0:r.between(y0 + 1, h), x0:r.between(x0 + 1, w)] = True
    return m


def shape(r, h, w):
    """A rectangle, or one time in five the union of two (an L, a cross or
    two blobs)."""
    m = rect(r, h, w)
    if r.chance(0.2):
        m |= rect(r, h, w)
    return m


def shifted(m, dy, dx):
    out = np.zeros_like(m)
    h, w = m.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        m[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def perturb(r, m):
    """A copy of m, shifted by one pixel, grown or shrunk by one pixel
    (4-neighbourhood), or with one row or column cut out."""
    k = r.below(6)
    if k == 0:
        return m.copy()
    if k == 1:
        dy, dx = r.pick([(-1, 0), (1, 0), (0, -1), (0, 1), (1, 1), (-1, -1)])
        return shifted(m, dy, dx)
    if k == 2:
        return m | shifted(m, 1, 0) | shifted(m, -1, 0) | shifted(m, 0, 1) | shifted(m, 0, -1)
    if k == 3:
        return m & shifted(m, 1, 0) & shifted(m, -1, 0) & shifted(m, 0, 1) & shifted(m, 0, -1)
    out = m.copy()
    if k == 4:
        out[r.below(m.shape[0]), :] = False
    else:
        out[:, r.below(m.shape[1])] = False
    return out


def bits(m):
    return ''.join('1' if b else '0' for b in m.reshape(-1))


def unbits(s, h, w):
    return np.array([c == '1' for c in s], dtype=bool).reshape(h, w)

# ------------------------------------------------------------------ COCO AP


def ap_case(r):
    H = W = 8
    K = r.between(1, 3)
    scale = r.pick([1, 20, 200, 400, 1000])
    images = []
    for _ in range(r.between(1, 4)):
        gts = []
        for _ in range(r.below(6)):
            m = np.zeros((H, W), dtype=bool) if r.chance(0.03) else shape(r, H, W)
            gts.append((m, r.below(K), r.chance(0.2)))
        nd = r.between(11, 16) if r.chance(0.2) else r.below(8)
        # An image with more than 10 detections gives most of them one
        # category, so that maxDets 10 and 100 differ (AR10 vs AR100).
        crowded = nd > 10
        one = r.pick(gts)[1] if gts else r.below(K)
        dts = []
        for _ in range(nd):
            focus = crowded and r.chance(0.8)
            pool = [g for g in gts if g[1] == one] if focus else gts
            if pool and r.chance(0.5):
                gm, gc, _ = r.pick(pool)
                m = perturb(r, gm)
                c = gc if r.chance(0.85) else r.below(K)
            elif r.chance(0.1):
                m, c = np.zeros((H, W), dtype=bool), r.below(K)
            else:
                m, c = shape(r, H, W), r.below(K)
            if focus:
                c = one
            dts.append((m, c, r.below(11) / 10))
        images.append({
            'gt': [{'m': bits(m), 'cat': int(c), 'crowd': bool(cr)} for m, c, cr in gts],
            'dt': [{'m': bits(m), 'cat': int(c), 'score': s} for m, c, s in dts],
        })
    case = {'K': K, 'H': H, 'W': W, 'scale': scale, 'stats': None, 'images': images}
    case['stats'] = ap_stats(case)
    return case


def rle(m):
    r = cocoref.rle_encode(m)
    return {'size': [r['h'], r['w']], 'counts': r['cnts']}


def ap_stats(case):
    H, W, scale = case['H'], case['W'], case['scale']
    imgs = [{'id': i + 1, 'height': H, 'width': W} for i in range(len(case['images']))]
    anns, results = [], []
    for i, im in enumerate(case['images']):
        for g in im['gt']:
            m = unbits(g['m'], H, W)
            anns.append({'id': len(anns) + 1, 'image_id': i + 1, 'category_id': g['cat'],
                         'segmentation': rle(m), 'area': int(m.sum()) * scale, 'iscrowd': int(g['crowd'])})
        for d in im['dt']:
            results.append({'image_id': i + 1, 'category_id': d['cat'],
                            'segmentation': rle(unbits(d['m'], H, W)), 'score': d['score']})
    gt = cocoref.COCO({'images': imgs, 'annotations': anns,
                       'categories': [{'id': k} for k in range(case['K'])]})
    dt = gt.loadRes(results)
    for a in dt.dataset['annotations']:
        a['area'] *= scale
    e = cocoref.COCOevalSegm(gt, dt)
    e.evaluate()
    e.accumulate()
    return [float(s) for s in e.summarize()]

# ------------------------------------------------------------------ PQ


def pq_case(r, tmp):
    H, W = 6, 8
    K = r.between(1, 4)
    isthing = [r.chance(0.5) for _ in range(K)]
    images = []
    for _ in range(r.between(1, 3)):
        gt = np.zeros((H, W), dtype=np.int64)
        gsegs = []
        for j in range(r.between(1, 4) if r.chance(0.92) else 0):
            gt[shape(r, H, W)] = 10 + j
            gsegs.append({'id': 10 + j, 'category_id': int(r.below(K)), 'iscrowd': int(r.chance(0.25))})
        gsegs = [s for s in gsegs if (gt == s['id']).any()]
        pred = np.zeros((H, W), dtype=np.int64)
        cats = {}
        if gsegs and r.chance(0.75):
            # perturb the GT: most segments are redrawn, slightly moved,
            # sometimes with another category, and a few unrelated
            # segments may follow
            for s in gsegs:
                if r.chance(0.9):
                    pid = 100 + len(cats)
                    pred[perturb(r, gt == s['id'])] = pid
                    cats[pid] = s['category_id'] if r.chance(0.8) else int(r.below(K))
            extra = r.below(2)
        else:
            extra = r.below(6)
        for _ in range(extra):
            pid = 100 + len(cats)
            pred[shape(r, H, W)] = pid
            cats[pid] = int(r.below(K))
        psegs = [{'id': pid, 'category_id': c} for pid, c in sorted(cats.items()) if (pred == pid).any()]
        images.append({'gt': gt, 'gsegs': gsegs, 'pred': pred, 'psegs': psegs})
    res = pq_res(images, isthing, tmp)
    return {'isthing': isthing,
            'images': [{'gt': [int(v) for v in im['gt'].reshape(-1)], 'gsegs': im['gsegs'],
                        'pred': [int(v) for v in im['pred'].reshape(-1)], 'psegs': im['psegs']}
                       for im in images],
            'res': res}


def write_png(path, ids):
    """An 8-bit RGB PNG holding ids as panopticapi's rgb2id reads them."""
    h, w = ids.shape
    rgb = np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], axis=-1).astype(np.uint8)
    raw = b''.join(b'\x00' + rgb[y].tobytes() for y in range(h))

    def chunk(typ, body):
        return struct.pack('>I', len(body)) + typ + body + struct.pack('>I', zlib.crc32(typ + body) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) +
                chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def pq_res(images, isthing, tmp):
    gt_dir, pred_dir = os.path.join(tmp, 'gt'), os.path.join(tmp, 'pred')
    os.makedirs(gt_dir, exist_ok=True)
    os.makedirs(pred_dir, exist_ok=True)
    gt_anns, pred_anns = [], []
    for i, im in enumerate(images):
        name = '%d.png' % i
        write_png(os.path.join(gt_dir, name), im['gt'])
        write_png(os.path.join(pred_dir, name), im['pred'])
        gt_anns.append({'image_id': i + 1, 'file_name': name, 'segments_info': [
            dict(s, area=int((im['gt'] == s['id']).sum())) for s in im['gsegs']]})
        pred_anns.append({'image_id': i + 1, 'file_name': name, 'segments_info': [dict(s) for s in im['psegs']]})
    gt_json = {'categories': [{'id': c, 'isthing': int(t)} for c, t in enumerate(isthing)], 'annotations': gt_anns}
    r = cocoref.pq_compute(gt_json, {'annotations': pred_anns}, gt_dir, pred_dir)
    return [[float(r[n]['pq']), float(r[n]['sq']), float(r[n]['rq']), int(r[n]['n'])]
            for n in ('All', 'Things', 'Stuff')]

# ------------------------------------------------------------------ files

AP_NOTE = ('expected COCOeval.stats (12 numbers, summarize order, iouType segm) from '
           'metrics/testdata/reference/cocoref.py; masks are row-major HxW strings, '
           'categories 0-based, every area (GT and detections) = pixels x scale; '
           'written by metrics/testdata/gen.py')
PQ_NOTE = ('expected [PQ, SQ, RQ, N] for All, Things, Stuff from panopticapi pq_compute as '
           'ported in metrics/testdata/reference/cocoref.py; gt and pred are row-major '
           '6x8 id maps (0 = void), GT areas are pixel counts; written by metrics/testdata/gen.py')


def dump(path, obj):
    with open(path, 'w') as f:
        f.write(json.dumps(obj, separators=(',', ':')))
        f.write('\n')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seed', type=int, default=1, help='seed of every case (default 1)')
    p.add_argument('--cases', type=int, default=30, help='cases per file (default 30)')
    p.add_argument('--out', default=HERE, help='output directory (default: this script\'s)')
    a = p.parse_args()
    if a.seed < 0 or a.cases < 1:
        p.error('--seed must be ≥ 0 and --cases ≥ 1')
    os.makedirs(a.out, exist_ok=True)
    ap = [ap_case(case_rand(a.seed, 1, i)) for i in range(a.cases)]
    with tempfile.TemporaryDirectory() as tmp:
        pq = [pq_case(case_rand(a.seed, 2, i), os.path.join(tmp, str(i))) for i in range(a.cases)]
    dump(os.path.join(a.out, 'coco_ap_cases.json'), {'note': AP_NOTE, 'seed': a.seed, 'cases': ap})
    dump(os.path.join(a.out, 'pq_cases.json'), {'note': PQ_NOTE, 'seed': a.seed, 'cases': pq})


if __name__ == '__main__':
    main()
