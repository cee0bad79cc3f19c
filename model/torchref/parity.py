"""Redo one Go training step in PyTorch, for the parity test.

    /usr/bin/python3 model/torchref/parity.py IN.npz OUT.npz [--dtype float64]

IN.npz is written by model.WriteParity (Go): weights, batch, the Go step's
discrete choices (per-stage matchings, MP labels, pilot masks, self mask,
cross-attention masks), the Go losses and the Go gradients. This script
rebuilds the model with torchref.py, loads the weights, runs the forward
with Go's matchings / MP inputs / attention masks (never its own Hungarian
or random draws), the criterion and the backward, and writes OUT.npz
(model/ckpt layout) with

    grad/<name>          PyTorch's gradient of the batch loss
    img<i>/loss          [7] the loss terms of image i (model.LossFields)
    img<i>/stage_loss    [stages] the matching-branch loss of each stage

and under meta.json "extra" diagnostics (see `diag` below): how many
attention-mask cells PyTorch's own rule sets differently from Go's, whether
its own pilot and self masks equal Go's, how many stage matchings its own
(SciPy) Hungarian would choose differently, and the norm-wise relative
gradient errors against Go (the Go test recomputes those itself).

With loss.points > 0 the official point-sampled path runs on Go's draws:
the matcher on Go's uniform points (point_matchings_differ: stage
matchings where SciPy on those points chooses otherwise than Go), and the
mask losses on the points get_uncertain_point_coords_with_randomness
chooses from Go's oversampled and fresh draws (point_sets_differ: pairs
whose chosen set differs from Go's). With MP mask noise, the official noise
code runs on Go's draws (torchref.official_pilots): pilot_cells_differ
counts the cells where its intended geometry differs from Go's pilots, and
for shift/scale pilot_cells_differ_swapped and pilot_cells_differ_official
the cells where the official code as written (x/y swap; and its inverted
pilots after the first layer) differs.
It prints a one-line JSON summary on stdout.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchref as tr  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    torch.set_default_dtype(dtype)

    meta, arr = tr.load_npz(a.inp)
    c = meta["model"]
    info = meta["extra"]["parity"]
    B = info["batch"]
    model = tr.Model(c).to(dtype)
    model.load_params(arr)
    model.train()
    S = c["image_size"]
    K, N, L = c["num_classes"], c["queries"], c["dec_layers"]
    masked = c["arch"] != "maskformer"

    images = torch.stack([torch.from_numpy(arr["img%d/input" % b]).to(dtype) for b in range(B)])
    targets = []
    for b in range(B):
        cls = torch.from_numpy(arr["img%d/classes" % b]).long()
        G = cls.shape[0]
        seg = torch.from_numpy(arr["img%d/segmap" % b])
        targets.append({
            "classes": cls,
            "cover4": torch.from_numpy(arr["img%d/cover4" % b]).to(dtype).reshape(G, -1),
            "masks": (seg.unsqueeze(0) == torch.arange(1, G + 1, dtype=seg.dtype).view(G, 1, 1)).to(dtype),
        })
    go_norms = arr["norms"]
    nm = tr.norms(c, targets)
    diag = {}
    diag["norms_equal"] = bool(np.allclose(
        [nm["num_masks"], nm["ce_den"], nm["mp_ce_den"], nm["max_gt"]], go_norms, rtol=1e-6, atol=0))
    # Go's normalisers were rounded to float32 in the file; use the exact ones
    # when they agree (they are small rationals).
    if not diag["norms_equal"]:
        nm = {"num_masks": float(go_norms[0]), "ce_den": float(go_norms[1]),
              "mp_ce_den": float(go_norms[2]), "max_gt": int(go_norms[3])}

    levels = [(S // s, S // s) for s in (32, 16, 8)]
    mp, P = None, 0
    if c["arch"] == "mpformer" and nm["max_gt"] > 0:
        labels = torch.stack([torch.from_numpy(arr["img%d/mp/labels" % b]).long() for b in range(B)])
        P = labels.shape[1]
        pilots = []
        for l in range(L):
            key = "img0/mp/pilot/%d" % l
            if key in arr:
                pilots.append(torch.stack([torch.from_numpy(arr["img%d/mp/pilot/%d" % (b, l)] > 0.5).flatten(1) for b in range(B)]))
            else:
                pilots.append(None)
        selfs = [arr["img%d/mp/self" % b] > 0.5 for b in range(B)]
        if any((s != selfs[0]).any() for s in selfs):
            raise SystemExit("parity: the images' self-attention masks differ")
        mp = {"labels": labels, "pilots": pilots, "self": torch.from_numpy(selfs[0])}
        # PyTorch's own MP construction (used by bench.py) must give the same masks
        own = tr.build_mp(c, targets, nm["max_gt"], levels) if c["mp"]["noise"] == "none" else None
        if own is not None:
            diag["self_mask_equal"] = bool(torch.equal(own["self"], mp["self"]))
            diag["pilot_cells_differ"] = int(sum(
                int((o != g).sum()) for o, g in zip(own["pilots"], pilots) if g is not None or o is not None))
        else:
            diag["self_mask_equal"] = bool(torch.equal(tr.self_mask(P, nm["max_gt"], N), mp["self"]))
            # the official noise code on Go's draws: the intended geometry
            # must equal Go's pilots; the official code as it is shows the
            # effect of its axis swap and (shift/scale, layers 2-9) of its
            # inverted pilots
            draws = []
            for b in range(B):
                d = {"point": {}}
                for l in range(L):
                    key = "img%d/mp/noise/point/%d" % (b, l)
                    if key in arr:
                        d["point"][l] = arr[key].reshape(P, -1)
                for k in ("shift", "scale"):
                    key = "img%d/mp/noise/%s" % (b, k)
                    if key in arr:
                        d[k] = arr[key]
                draws.append(d)
            mk = lambda **kw: tr.official_pilots(c, targets, nm["max_gt"], levels, draws, **kw)
            diag["pilot_cells_differ"] = _cells_differ(mk(), pilots)
            diag["pilot_cells"] = int(sum(int(g.numel()) for g in pilots if g is not None))
            if c["mp"]["noise"] == "point":
                diag["pilot_noise_boundary"] = _point_boundary(c, targets, levels, draws, mk(), pilots, P)
            else:
                diag["pilot_cells_differ_swapped"] = _cells_differ(mk(swap=True), pilots)
                diag["pilot_cells_differ_layer1_swapped"] = _cells_differ(mk(swap=True)[:1], pilots[:1])
                diag["pilot_cells_differ_official"] = _cells_differ(mk(swap=True, invert_later=True), pilots)

    override = None
    if masked:
        override = []
        for l in range(L):
            override.append(torch.stack([
                torch.from_numpy(arr["img%d/attn/%d" % (b, l)] > 0.5).flatten(1) for b in range(B)]))

    stages = model(images, mp, override, diag)
    nst = len(stages)
    matches = []
    for s in range(nst):
        matches.append([torch.from_numpy(arr["img%d/match" % b][s]).long() for b in range(B)])
    points = None
    if c["loss"]["points"] > 0:
        # the official matcher on Go's uniform points (the test requires the
        # same matchings), and Go's loss-point draws by pair
        points = {}
        for b in range(B):
            if "img%d/pts/pairs" % b not in arr:
                continue
            pairs = arr["img%d/pts/pairs" % b].astype(np.int64)
            cand, rnd, chosen = (arr["img%d/pts/%s" % (b, k)] for k in ("candidates", "random", "chosen"))
            for r, (s_, mp_, row, _g) in enumerate(pairs):
                points[(int(s_), int(mp_), b, int(row))] = (cand[r], rnd[r], chosen[r])
        differ = 0
        for s, (cls, msk) in enumerate(stages):
            coords = [torch.from_numpy(arr["img%d/pts/match" % b][s]) for b in range(B)]
            own = tr.hungarian_points(c, cls[:, P:].detach(), msk[:, P:].detach(), targets, coords)
            differ += sum(int(not torch.equal(o, g)) for o, g in zip(own, matches[s]))
        diag["point_matchings_differ"] = differ
    else:
        # diagnostic only: would SciPy's Hungarian on PyTorch's logits pick the same?
        differ = 0
        for s, (cls, msk) in enumerate(stages):
            own = tr.hungarian(c, cls[:, P:].float(), msk[:, P:].float(), [
                {"classes": t["classes"], "cover4": t["cover4"].float()} for t in targets])
            differ += sum(int(not torch.equal(o, g)) for o, g in zip(own, matches[s]))
        diag["matchings_differ"] = differ
    diag["matchings"] = nst * B

    total, terms = tr.criterion(c, stages, P, targets, nm, matches, points, diag)
    total.backward()

    out = {}
    errs = {}
    for name, p in model.named_parameters():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        g = g.detach().double().numpy()
        out["grad/" + name] = g
        go = arr["grad/" + name].astype(np.float64)
        ref = np.linalg.norm(g)
        d = np.linalg.norm(g - go)
        errs[name] = float(d / ref) if ref > 0 else (0.0 if d == 0 else float("inf"))
    fields = info["loss_fields"]
    for b in range(B):
        out["img%d/loss" % b] = np.array([float(terms[f][b]) for f in fields])
        out["img%d/stage_loss" % b] = terms["stage"][b].detach().double().numpy()
    go_loss = info["loss"]
    diag["loss_torch"] = float(total)
    diag["loss_go"] = go_loss
    worst = max(errs, key=errs.get)
    diag["grad_rel_err_max"] = errs[worst]
    diag["grad_rel_err_worst"] = worst
    diag["dtype"] = a.dtype
    tr.save_npz(a.out, out, {"parity": diag, "grad_rel_err": errs})
    print(json.dumps(diag))


def _cells_differ(mine, go):
    """Cells where two per-layer pilot lists ([B, P, h*w] bool or None) differ."""
    n = 0
    for a, g in zip(mine, go):
        if (a is None) != (g is None):
            raise SystemExit("parity: piloted layers differ: %s vs %s" % (
                [x is not None for x in mine], [x is not None for x in go]))
        if a is not None:
            n += int((a != g).sum())
    return n


def _point_boundary(c, targets, levels, draws, mine, go, P):
    """Point noise: of the differing cells, how many had a draw within 1e-6
    of the flip probability (Go compares in float64, the official code in
    float32: such a cell may flip on one side only). Returns [differing,
    of them at the boundary]."""
    ns = float(c["mp"]["noise_ratio"])
    slot = torch.arange(P) % (P // c["mp"]["groups"])
    diff = bound = 0
    for i, (a, g) in enumerate(zip(mine, go)):
        if a is None:
            continue
        h, w = levels[i % 3]
        for b, t in enumerate(targets):
            G = t["classes"].shape[0]
            for s in range(P):
                if int(slot[s]) >= G:
                    continue
                bad = (a[b, s] != g[b, s]).nonzero().flatten()
                if bad.numel() == 0:
                    continue
                full = t["masks"][int(slot[s])]
                area = int((F.interpolate(full[None, None].float(), size=(h, w), mode="area").flatten() > 1e-8).sum())
                p = ns * area / (h * w)
                u = draws[b]["point"][i][s]
                diff += bad.numel()
                bound += int(sum(abs(float(u[k]) - p) < 1e-6 for k in bad))
    return [diff, bound]


if __name__ == "__main__":
    main()
