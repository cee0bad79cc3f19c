"""PyTorch reference for the engine's parity test (model/engine/parity_test.go).

Usage: python3 parity.py SPEC.json INPUTS.npz OUTPUTS.npz

SPEC.json lists cases: {"name", "op", "shapes": {input: shape}, "params": {...}}.
INPUTS.npz holds flat float32 arrays "<case>/<input>" plus "<case>/R" (the
weights of the scalar loss sum(out * R) whose gradients are compared).
OUTPUTS.npz receives "<case>/out" and "<case>/grad/<input>" (flat float32).

PyTorch is the reference only; mpanalyze never imports it at run time.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def dice_per_row(x, t):
    # Mask2Former's dice_loss (criterion.py) before the division by num_masks.
    s = x.sigmoid()
    num = 2 * (s * t).sum(-1)
    den = s.sum(-1) + t.sum(-1)
    return 1 - (num + 1) / (den + 1)


def ms_deform_attn_core_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
    """Transcription of the official pure-PyTorch reference of the same name
    (Mask2Former mask2former/modeling/pixel_decoder/ops/functions/
    ms_deform_attn_func.py): value [N, S, M, D], sampling_locations
    [N, Lq, M, L, P, 2] in [0, 1], attention_weights [N, Lq, M, L, P] →
    [N, Lq, M·D]. Each level's values are sampled with grid_sample
    (bilinear, zero padding, align_corners=False) at 2·loc − 1."""
    N_, S_, M_, D_ = value.shape
    _, Lq_, M_, L_, P_, _ = sampling_locations.shape
    value_list = value.split([H_ * W_ for H_, W_ in value_spatial_shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1
    sampled = []
    for lid_, (H_, W_) in enumerate(value_spatial_shapes):
        value_l_ = value_list[lid_].flatten(2).transpose(1, 2).reshape(N_ * M_, D_, H_, W_)
        grid_l_ = sampling_grids[:, :, :, lid_].transpose(1, 2).flatten(0, 1)
        sampled.append(F.grid_sample(value_l_, grid_l_, mode="bilinear", padding_mode="zeros", align_corners=False))
    attention_weights = attention_weights.transpose(1, 2).reshape(N_ * M_, 1, Lq_, L_ * P_)
    output = (torch.stack(sampled, dim=-2).flatten(-2) * attention_weights).sum(-1).view(N_, M_ * D_, Lq_)
    return output.transpose(1, 2).contiguous()


def ms_deform_attn(t, levels, M, P):
    """MSDeformAttn.forward of the official module (ops/modules/
    ms_deform_attn.py) for one image, 2-d reference points, no padding."""
    query, inp, ref = t["query"].unsqueeze(0), t["input"].unsqueeze(0), t["ref"].unsqueeze(0)
    _, Lq, D = query.shape
    Len, L = inp.shape[1], len(levels)
    value = F.linear(inp, t["w_value"], t["b_value"]).view(1, Len, M, D // M)
    off = F.linear(query, t["w_off"], t["b_off"]).view(1, Lq, M, L, P, 2)
    aw = F.linear(query, t["w_attn"], t["b_attn"]).view(1, Lq, M, L * P)
    aw = F.softmax(aw, -1).view(1, Lq, M, L, P)
    shapes = torch.as_tensor(levels, dtype=torch.long)
    normalizer = torch.stack([shapes[..., 1], shapes[..., 0]], -1)
    loc = ref[:, :, None, :, None, :] + off / normalizer[None, None, None, :, None, :]
    out = ms_deform_attn_core_pytorch(value, levels, loc, aw)
    return F.linear(out, t["w_out"], t["b_out"]).squeeze(0)


def run(case, inp):
    op, p = case["op"], case.get("params", {})
    name = case["name"]
    shapes = case["shapes"]
    grads_of = case.get("grads", list(shapes))
    t = {}
    for k, shp in shapes.items():
        a = torch.from_numpy(inp[f"{name}/{k}"].reshape(shp).astype(np.float64 if p.get("f64") else np.float32))
        a.requires_grad_(k in grads_of)
        t[k] = a
    if op == "conv2d":
        out = F.conv2d(t["x"], t["w"], t["b"], stride=p["stride"], padding=p["pad"])
    elif op == "groupnorm":
        out = F.group_norm(t["x"], p["groups"], t["gamma"], t["beta"], eps=1e-5)
    elif op == "layernorm":
        out = F.layer_norm(t["x"], (shapes["x"][-1],), t["gamma"], t["beta"], eps=1e-5)
    elif op == "mha":
        D, H = shapes["q"][1], p["heads"]
        mha = torch.nn.MultiheadAttention(D, H, dropout=0.0)
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.cat([t["wq"], t["wk"], t["wv"]]))
            mha.in_proj_bias.copy_(torch.cat([t["bq"], t["bk"], t["bv"]]))
            mha.out_proj.weight.copy_(t["wo"])
            mha.out_proj.bias.copy_(t["bo"])
        mask = torch.from_numpy(inp[f"{name}/mask"] > 0.5).reshape(p["mask_shape"])
        q = (t["q"] + t["qpos"]).unsqueeze(1)
        k = (t["k"] + t["kpos"]).unsqueeze(1)
        v = t["k"].unsqueeze(1)
        out = mha(q, k, v, attn_mask=mask, need_weights=False)[0].squeeze(1)
        # gradients w.r.t. the projection weights come from the module
        out_grads = {"wq": lambda: mha.in_proj_weight.grad[:D], "wk": lambda: mha.in_proj_weight.grad[D:2 * D],
                     "wv": lambda: mha.in_proj_weight.grad[2 * D:], "bq": lambda: mha.in_proj_bias.grad[:D],
                     "bk": lambda: mha.in_proj_bias.grad[D:2 * D], "bv": lambda: mha.in_proj_bias.grad[2 * D:],
                     "wo": lambda: mha.out_proj.weight.grad, "bo": lambda: mha.out_proj.bias.grad}
    elif op == "bilinear":
        out = F.interpolate(t["x"], size=tuple(p["size"]), mode="bilinear", align_corners=False)
    elif op == "nearest":
        out = F.interpolate(t["x"], size=tuple(p["size"]), mode="nearest")
    elif op == "point_sample":
        pts = torch.from_numpy(inp[f"{name}/points"].reshape(-1, 2).astype(np.float32))
        grid = (2 * pts - 1).reshape(1, 1, -1, 2)
        out = F.grid_sample(t["x"].unsqueeze(0), grid, align_corners=False).reshape(shapes["x"][0], -1)
    elif op == "cross_entropy":
        tgt = torch.from_numpy(inp[f"{name}/targets"].astype(np.int64))
        w = torch.from_numpy(inp[f"{name}/weights"].astype(np.float32))
        out = F.cross_entropy(t["x"], tgt, weight=w).reshape(1)
    elif op == "bce":
        tgt = torch.from_numpy(inp[f"{name}/targets"].reshape(shapes["x"]).astype(np.float32))
        out = F.binary_cross_entropy_with_logits(t["x"], tgt, reduction="none").mean(1)
    elif op == "dice":
        tgt = torch.from_numpy(inp[f"{name}/targets"].reshape(shapes["x"]).astype(np.float32))
        out = dice_per_row(t["x"], tgt)
    elif op == "msdeform_core":
        lv = [tuple(p["levels"][i:i + 2]) for i in range(0, len(p["levels"]), 2)]
        out = ms_deform_attn_core_pytorch(t["value"].unsqueeze(0), lv, t["loc"].unsqueeze(0), t["attn"].unsqueeze(0)).squeeze(0)
    elif op == "msdeform_attn":
        lv = [tuple(p["levels"][i:i + 2]) for i in range(0, len(p["levels"]), 2)]
        out = ms_deform_attn(t, lv, p["heads"], p["points"])
    else:
        raise SystemExit(f"unknown op {op}")
    res = {f"{name}/out": out.detach().numpy().astype(np.float32).ravel()}
    if grads_of:
        R = torch.from_numpy(inp[f"{name}/R"].reshape(out.shape).astype(np.float32))
        (out * R).sum().backward()
        for k in grads_of:
            if op == "mha" and k in out_grads:
                gk = out_grads[k]()
            else:
                gk = t[k].grad
            res[f"{name}/grad/{k}"] = gk.detach().numpy().astype(np.float32).ravel()
    return res


def main():
    spec = json.load(open(sys.argv[1]))
    inp = dict(np.load(sys.argv[2]))
    res = {}
    for case in spec:
        res.update(run(case, inp))
    np.savez(sys.argv[3], **res)


if __name__ == "__main__":
    main()
