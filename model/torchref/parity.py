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
It prints a one-line JSON summary on stdout.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

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
    # diagnostic only: would SciPy's Hungarian on PyTorch's logits pick the same?
    differ = 0
    for s, (cls, msk) in enumerate(stages):
        own = tr.hungarian(c, cls[:, P:].float(), msk[:, P:].float(), [
            {"classes": t["classes"], "cover4": t["cover4"].float()} for t in targets])
        differ += sum(int(not torch.equal(o, g)) for o, g in zip(own, matches[s]))
    diag["matchings_differ"] = differ
    diag["matchings"] = nst * B

    total, terms = tr.criterion(c, stages, P, targets, nm, matches)
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


if __name__ == "__main__":
    main()
