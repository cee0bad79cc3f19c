"""Run the msdeform pixel decoder of torchref.py on Go's weights and inputs.

    /usr/bin/python3 model/torchref/pixel_parity.py IN.npz OUT.npz

IN.npz (written by model's TestMSDeformPixelDecoderTorchParity, model/ckpt
layout): the model config under meta.json "model", the pixel decoder's
parameters param/pixel_decoder.<name>, the backbone features feat/<i>
(strides 4, 8, 16, 32) and the output weights R/mask_features, R/out<i>
(outputs at strides 32, 16, 8, 4). The script computes
loss = Σ R⊙mask_features + Σ_i R_i⊙out_i with torchref.MSDeformPixelDecoder
and writes OUT.npz with out/mask_features, out/out<i>, grad/<name> for every
parameter and grad/feat<i>. It prints the loss as JSON.
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchref as tr  # noqa: E402


def main():
    torch.set_num_threads(1)
    meta, arr = tr.load_npz(sys.argv[1])
    c = meta["model"]
    if isinstance(c, str):
        c = json.loads(c)
    pd = tr.MSDeformPixelDecoder(c)
    prefix = "param/pixel_decoder."
    mine = dict(pd.named_parameters())
    names = {k[len(prefix):] for k in arr if k.startswith(prefix)}
    if names != set(mine):
        raise SystemExit("parameter names differ: only in file %s, only in reference %s" % (
            sorted(names - set(mine))[:5], sorted(set(mine) - names)[:5]))
    with torch.no_grad():
        for n, p in mine.items():
            a = arr[prefix + n]
            if tuple(a.shape) != tuple(p.shape):
                raise SystemExit("%s: file shape %s, reference %s" % (n, a.shape, tuple(p.shape)))
            p.copy_(torch.from_numpy(a))
    feats = [torch.from_numpy(arr["feat/%d" % i]).requires_grad_(True) for i in range(4)]
    mf, out = pd.forward_features(feats)
    loss = (mf * torch.from_numpy(arr["R/mask_features"])).sum()
    for i, o in enumerate(out):
        loss = loss + (o * torch.from_numpy(arr["R/out%d" % i])).sum()
    loss.backward()
    res = {"out/mask_features": mf.detach().numpy()}
    for i, o in enumerate(out):
        res["out/out%d" % i] = o.detach().numpy()
    for n, p in mine.items():
        res["grad/" + n] = (p.grad if p.grad is not None else torch.zeros_like(p)).numpy()
    for i, f in enumerate(feats):
        res["grad/feat%d" % i] = f.grad.numpy()
    tr.save_npz(sys.argv[2], res, {"loss": float(loss)})
    print(json.dumps({"loss": float(loss)}))


if __name__ == "__main__":
    main()
