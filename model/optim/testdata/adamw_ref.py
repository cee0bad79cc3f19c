"""Reference AdamW + clip_grad_norm_ run for model/optim's parity test.

Usage: python3 adamw_ref.py IN.npz CONFIG.json OUT.npz

IN.npz (written by the Go test with npyio) holds float32 1-D arrays
  p_<i>          initial values of parameter i
  g_<s>_<i>      gradient of parameter i at step s (0-based)
CONFIG.json holds
  nparams, steps, lrs (base lr per step), lr_mult (per param),
  no_decay (per param), beta1, beta2, eps, weight_decay, max_norm
OUT.npz receives
  p_<s>_<i>      parameter i after step s (float32)
  m_<i>, v_<i>   torch's exp_avg / exp_avg_sq after the last step (float32)
  norms          clip_grad_norm_'s returned norm per step (float64)

Each parameter is its own param group (lr = lrs[s] * lr_mult[i],
weight_decay = 0 when no_decay[i]), which is how detectron2 / Mask2Former
build their AdamW groups for per-parameter lr and decay.
"""
import json
import sys

import numpy as np
import torch


def main():
    inp, cfg_path, out = sys.argv[1:4]
    cfg = json.load(open(cfg_path))
    data = np.load(inp)
    n = cfg["nparams"]
    params = [torch.nn.Parameter(torch.from_numpy(data[f"p_{i}"].astype(np.float32).copy())) for i in range(n)]
    groups = [
        {
            "params": [params[i]],
            "lr": cfg["lrs"][0] * cfg["lr_mult"][i],
            "weight_decay": 0.0 if cfg["no_decay"][i] else cfg["weight_decay"],
        }
        for i in range(n)
    ]
    opt = torch.optim.AdamW(
        groups, betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"], amsgrad=False, foreach=False
    )
    res = {}
    norms = []
    for s in range(cfg["steps"]):
        for i, p in enumerate(params):
            p.grad = torch.from_numpy(data[f"g_{s}_{i}"].astype(np.float32).copy())
        norm = torch.nn.utils.clip_grad_norm_(params, cfg["max_norm"])
        norms.append(float(norm))
        for i, g in enumerate(opt.param_groups):
            g["lr"] = cfg["lrs"][s] * cfg["lr_mult"][i]
        opt.step()
        for i, p in enumerate(params):
            res[f"p_{s}_{i}"] = p.detach().numpy().copy()
    for i, p in enumerate(params):
        st = opt.state[p]
        res[f"m_{i}"] = st["exp_avg"].numpy().copy()
        res[f"v_{i}"] = st["exp_avg_sq"].numpy().copy()
    res["norms"] = np.array(norms, dtype=np.float64)
    np.savez(out, **res)
    print(f"torch {torch.__version__} numpy {np.__version__}: {cfg['steps']} steps, norms {norms}")


if __name__ == "__main__":
    main()
