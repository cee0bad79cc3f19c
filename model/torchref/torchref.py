"""PyTorch reference of mpanalyze's models (MaskFormer, Mask2Former, MP-Former).

It mirrors model/*.go exactly: the same modules, parameter names and shapes,
forward (all prediction stages), criterion and AdamW/clipping, so that

  * parity.py can load the Go weights and one Go training step's inputs and
    discrete choices (matchings, MP labels and pilots, attention masks) from a
    file written by model.WriteParity, redo the step in PyTorch and write
    PyTorch's losses and gradients for the Go test to compare;
  * bench.py can train the same model on the same batches as `mpanalyze bench
    torch` and time it.

It is a reference only: mpanalyze never depends on it. It needs numpy and
torch (Debian's python3-torch 1.13 on CPU); scipy only for bench.py's
Hungarian matching.

The Go code and this file correspond as follows (model/<file>.go):
  modules.go   Conv (conv [+GroupNorm] [+ReLU]), MLP, sine_pos
  backbone.go  Backbone, FPN
  msdeform.go  MSDeformPixelDecoder (with MSDeformAttn, MSDeformEncoderLayer and
               the official ms_deform_attn_core_pytorch)
  decoder.go   Attn (nn.MultiheadAttention with separate q/k/v projections,
               via F.multi_head_attention_forward), DecoderLayer,
               MaskedDecoder (Mask2Former / MP-Former), PlainDecoder
               (MaskFormer), attention_mask
  mp.go        build_mp (labels, pilots, self mask; noise "none" only);
               official_pilots (the official MP decoder's point, shift and
               scale noise, on given draws)
  criterion.go norms, criterion, hungarian (scipy, full-pixel cost);
               point_sample, get_uncertain_point_coords_with_randomness,
               hungarian_points (the official point-sampled matcher and
               mask losses, on given draws)
  model.go     Model (input normalisation, forward)
"""

import json
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------- files


def load_npz(path):
    """Returns (meta dict, {name: np.ndarray}) of an mpanalyze .npz."""
    with np.load(path) as f:
        meta = json.loads(f["meta.json"].tobytes())
        arrays = {k: f[k] for k in f.files if k != "meta.json"}
    return meta, arrays


def save_npz(path, arrays, extra):
    """Writes float32 arrays and a meta.json that model/ckpt.Load accepts."""
    meta = {"format": "mpanalyze-checkpoint/1", "step": 0, "extra": extra}
    out = {k: np.ascontiguousarray(v, dtype="<f4") for k, v in arrays.items()}
    out["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **out)


# ---------------------------------------------------------------- modules


class Conv(nn.Module):
    """detectron2's Conv2d: conv (bias only without a norm) [+ GroupNorm] [+ ReLU]."""

    def __init__(self, cin, cout, k, stride, groups, relu):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin, k, k))
        if groups > 0:
            self.register_parameter("bias", None)
            self.norm = nn.GroupNorm(groups, cout, eps=1e-5)
        else:
            self.bias = nn.Parameter(torch.zeros(cout))
            self.norm = None
        self.stride, self.pad, self.relu = stride, k // 2, relu

    def forward(self, x):
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.pad)
        if self.norm is not None:
            y = self.norm(y)
        return F.relu(y) if self.relu else y


class ResBlock(nn.Module):
    def __init__(self, w, g):
        super().__init__()
        self.conv1 = Conv(w, w, 3, 1, g, True)
        self.conv2 = Conv(w, w, 3, 1, g, False)

    def forward(self, x):
        return F.relu(x + self.conv2(self.conv1(x)))


class Backbone(nn.Module):
    """Stride-4 stem (two 3×3 stride-2 convs) and four residual stages."""

    def __init__(self, c):
        super().__init__()
        w, g = c["backbone_widths"], c["gn_groups"]
        self.stem = nn.Module()
        self.stem.conv1 = Conv(3, w[0] // 2, 3, 2, g // 2, True)
        self.stem.conv2 = Conv(w[0] // 2, w[0], 3, 2, g, True)
        self.stages = []
        for s in range(4):
            st = nn.Module()
            st.down = Conv(w[s - 1], w[s], 3, 2, g, True) if s > 0 else None
            blocks = []
            for k in range(c["backbone_blocks"][s]):
                blk = ResBlock(w[s], g)
                st.add_module(str(k), blk)
                blocks.append(blk)
            st.blocks = blocks
            self.add_module("res%d" % (s + 2), st)
            self.stages.append(st)

    def forward(self, x):
        x = self.stem.conv2(self.stem.conv1(x))
        out = []
        for st in self.stages:
            if st.down is not None:
                x = st.down(x)
            for blk in st.blocks:
                x = blk(x)
            out.append(x)
        return out


class FPN(nn.Module):
    """MaskFormer's BasePixelDecoder; returns mask features and levels at strides 32, 16, 8."""

    def __init__(self, c):
        super().__init__()
        d, g, w = c["pixel_dim"], c["gn_groups"], c["backbone_widths"]
        self.layer_4 = Conv(w[3], d, 3, 1, g, True)
        for i in range(3):
            self.add_module("adapter_%d" % (i + 1), Conv(w[i], d, 1, 1, g, False))
            self.add_module("layer_%d" % (i + 1), Conv(d, d, 3, 1, g, True))
        self.mask_features = Conv(d, c["mask_dim"], 3, 1, 0, False)

    def forward(self, feats):
        y = self.layer_4(feats[3])
        levels = [y]
        for i in (2, 1, 0):
            lat = getattr(self, "adapter_%d" % (i + 1))(feats[i])
            up = F.interpolate(y, size=lat.shape[-2:], mode="nearest")
            y = getattr(self, "layer_%d" % (i + 1))(lat + up)
            if i >= 1:
                levels.append(y)
        return self.mask_features(y), levels


def ms_deform_attn_core_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
    """The official pure-PyTorch multi-scale deformable attention core
    (Mask2Former mask2former/modeling/pixel_decoder/ops/functions/
    ms_deform_attn_func.py, same name), transcribed: value [N, S, M, D],
    sampling_locations [N, Lq, M, L, P, 2] in [0, 1], attention_weights
    [N, Lq, M, L, P] → [N, Lq, M·D]; grid_sample bilinear, zero padding,
    align_corners=False at 2·loc − 1."""
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


class MSDeformAttn(nn.Module):
    """The official MSDeformAttn module (ops/modules/ms_deform_attn.py) with
    2-d reference points and no padding mask, on ms_deform_attn_core_pytorch
    instead of the CUDA kernel. Parameters are loaded from Go, so there is
    no _reset_parameters."""

    def __init__(self, d_model, n_levels, n_heads, n_points):
        super().__init__()
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)

    def forward(self, query, reference_points, input_flatten, input_spatial_shapes):
        N, Len_q, _ = query.shape
        N, Len_in, _ = input_flatten.shape
        M, L, P = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(input_flatten).view(N, Len_in, M, self.d_model // M)
        sampling_offsets = self.sampling_offsets(query).view(N, Len_q, M, L, P, 2)
        attention_weights = self.attention_weights(query).view(N, Len_q, M, L * P)
        attention_weights = F.softmax(attention_weights, -1).view(N, Len_q, M, L, P)
        offset_normalizer = torch.stack([input_spatial_shapes[..., 1], input_spatial_shapes[..., 0]], -1)
        sampling_locations = reference_points[:, :, None, :, None, :] \
            + sampling_offsets / offset_normalizer[None, None, None, :, None, :]
        shapes = [(int(h), int(w)) for h, w in input_spatial_shapes]
        output = ms_deform_attn_core_pytorch(value, shapes, sampling_locations, attention_weights)
        return self.output_proj(output)


class MSDeformEncoderLayer(nn.Module):
    """MSDeformAttnTransformerEncoderLayer (dropout 0): self MSDeformAttn with
    the positional embedding on the query, add & norm, FFN, add & norm."""

    def __init__(self, d, ffn, levels, heads, points):
        super().__init__()
        self.self_attn = MSDeformAttn(d, levels, heads, points)
        self.norm1 = nn.LayerNorm(d)
        self.linear1, self.linear2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.norm2 = nn.LayerNorm(d)

    def forward(self, src, pos, reference_points, spatial_shapes):
        src = self.norm1(src + self.self_attn(src + pos, reference_points, src, spatial_shapes))
        return self.norm2(src + self.linear2(F.relu(self.linear1(src))))


def reference_points(spatial_shapes, dtype):
    """get_reference_points of the official encoder with valid ratios 1: the
    pixel centres of every level, [1, Len, L, 2] (x, y)."""
    refs = []
    for H_, W_ in spatial_shapes:
        ref_y, ref_x = torch.meshgrid(torch.linspace(0.5, H_ - 0.5, H_, dtype=torch.float32),
                                      torch.linspace(0.5, W_ - 0.5, W_, dtype=torch.float32), indexing="ij")
        refs.append(torch.stack((ref_x.reshape(-1)[None] / W_, ref_y.reshape(-1)[None] / H_), -1))
    ref = torch.cat(refs, 1).to(dtype)
    return ref[:, :, None].expand(-1, -1, len(spatial_shapes), -1)


class MSDeformPixelDecoder(nn.Module):
    """Mask2Former's MSDeformAttnPixelDecoder (official msdeformattn.py) as
    model/msdeform.go: input projections (1×1 conv + GN) of the stride-32,
    16, 8 features, sine positional encoding + level embedding, the
    deformable encoder, then the stride-4 lateral (1×1 + GN) and output
    (3×3 + GN + ReLU) convs on the bilinearly upsampled stride-8 output, and
    1×1 mask features. Returns mask features and levels at strides 32, 16, 8."""

    def __init__(self, c):
        super().__init__()
        d, g, w = c["pixel_dim"], c["gn_groups"], c["backbone_widths"]
        ms = c["msdeform"]
        self.d = d
        self.input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w[3 - i], d, kernel_size=1), nn.GroupNorm(g, d)) for i in range(3))
        self.transformer = nn.Module()
        self.transformer.encoder = nn.Module()
        self.transformer.encoder.layers = nn.ModuleList(
            MSDeformEncoderLayer(d, ms["ffn"], 3, ms["heads"], ms["points"]) for _ in range(ms["layers"]))
        self.transformer.level_embed = nn.Parameter(torch.zeros(3, d))
        self.mask_features = Conv(d, c["mask_dim"], 1, 1, 0, False)
        self.adapter_1 = Conv(w[0], d, 1, 1, g, False)
        self.layer_1 = Conv(d, d, 3, 1, g, True)

    def forward_features(self, feats):
        """feats: backbone features at strides 4, 8, 16, 32. Returns mask
        features and the outputs at strides 32, 16, 8, 4."""
        srcs, pos, shapes = [], [], []
        for i in range(3):
            x = self.input_proj[i](feats[3 - i])
            B, _, h, w = x.shape
            shapes.append((h, w))
            srcs.append(x.flatten(2).transpose(1, 2))
            p = sine_pos(h, w, self.d).to(x.dtype).transpose(0, 1).expand(B, -1, -1)
            pos.append(p + self.transformer.level_embed[i].view(1, 1, -1))
        src, pos = torch.cat(srcs, 1), torch.cat(pos, 1)
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long)
        ref = reference_points(shapes, src.dtype)
        for layer in self.transformer.encoder.layers:
            src = layer(src, pos, ref, spatial_shapes)
        out, start = [], 0
        for h, w in shapes:
            out.append(src[:, start:start + h * w].transpose(1, 2).reshape(src.shape[0], -1, h, w))
            start += h * w
        lat = self.adapter_1(feats[0])
        y = lat + F.interpolate(out[-1], size=lat.shape[-2:], mode="bilinear", align_corners=False)
        out.append(self.layer_1(y))
        return self.mask_features(out[-1]), out

    def forward(self, feats):
        mf, out = self.forward_features(feats)
        return mf, out[:3]


class Attn(nn.Module):
    """nn.MultiheadAttention (dropout 0) with its in_proj split into q, k, v.

    Inputs are sequence-first [L, B, D], as in the official decoder; the
    positional embeddings are added by the caller (q and k only)."""

    def __init__(self, d, heads):
        super().__init__()
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.d, self.heads = d, heads

    def forward(self, q, k, v, mask):
        bias = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
        out, _ = F.multi_head_attention_forward(
            q, k, v, self.d, self.heads, None, bias, None, None, False, 0.0,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=None, need_weights=False, attn_mask=mask,
            use_separate_proj_weight=True, q_proj_weight=self.q_proj.weight,
            k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight)
        return out


class FFN(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d, f), nn.Linear(f, d)

    def forward(self, x):
        return self.linear2(F.relu(self.linear1(x)))


class DecoderLayer(nn.Module):
    """Post-norm cross-attention, self-attention and FFN sub-blocks."""

    def __init__(self, c):
        super().__init__()
        d, h = c["hidden"], c["heads"]
        self.cross_attn, self.cross_norm = Attn(d, h), nn.LayerNorm(d, eps=1e-5)
        self.self_attn, self.self_norm = Attn(d, h), nn.LayerNorm(d, eps=1e-5)
        self.ffn, self.ffn_norm = FFN(d, c["ffn"]), nn.LayerNorm(d, eps=1e-5)

    def cross(self, tgt, qpos, mem, pos, mask):
        q = tgt if qpos is None else tgt + qpos
        return self.cross_norm(tgt + self.cross_attn(q, mem + pos, mem, mask))

    def self_(self, tgt, qpos, mask):
        q = tgt if qpos is None else tgt + qpos
        return self.self_norm(tgt + self.self_attn(q, q, tgt, mask))

    def ffn_(self, tgt):
        return self.ffn_norm(tgt + self.ffn(tgt))


class MLP(nn.Module):
    def __init__(self, din, hidden, dout, n):
        super().__init__()
        dims = [din] + [hidden] * (n - 1) + [dout]
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(n))

    def forward(self, x):
        for i, l in enumerate(self.layers):
            x = l(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


_sine_cache = {}


def sine_pos(h, w, d):
    """DETR's PositionEmbeddingSine(normalize=True) as model/modules.go: [h·w, 1, d]."""
    key = (h, w, d)
    if key not in _sine_cache:
        npf = d // 2
        eps, scale, temp = 1e-6, 2 * math.pi, 10000.0
        dim_t = temp ** (2 * (np.arange(npf) // 2) / npf)
        ye = (np.arange(1, h + 1) / (h + eps) * scale)[:, None, None] / dim_t  # [h,1,npf]
        xe = (np.arange(1, w + 1) / (w + eps) * scale)[None, :, None] / dim_t  # [1,w,npf]
        ye = np.broadcast_to(ye, (h, w, npf)).copy()
        xe = np.broadcast_to(xe, (h, w, npf)).copy()
        even = (np.arange(npf) % 2 == 0)
        py = np.where(even, np.sin(ye), np.cos(ye))
        px = np.where(even, np.sin(xe), np.cos(xe))
        pos = np.concatenate([py, px], axis=-1).reshape(h * w, 1, d).astype(np.float32)
        _sine_cache[key] = torch.from_numpy(pos)
    return _sine_cache[key]


class Heads(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden"]
        self.decoder_norm = nn.LayerNorm(d, eps=1e-5)
        self.class_embed = nn.Linear(d, c["num_classes"] + 1)
        self.mask_embed = MLP(d, d, c["mask_dim"], 3)


def predict(dec, tgt, mf):
    """Class logits [B, Q, K+1] and mask logits [B, Q, h4, w4] of queries tgt [Q, B, D]."""
    x = dec.decoder_norm(tgt).transpose(0, 1)
    cls = dec.class_embed(x)
    masks = torch.einsum("bqc,bchw->bqhw", dec.mask_embed(x), mf)
    return cls, masks


def attention_mask(masks, h, w, pilot=None):
    """Mask2Former's masked-attention rule on mask logits [B, Q, h4, w4]: blocked
    (True) where the bilinearly resized logit is < 0 (sigmoid < 0.5); pilot [B, P,
    h·w] replaces the first P rows; fully blocked rows are unblocked. [B, Q, h·w]."""
    with torch.no_grad():
        r = F.interpolate(masks, size=(h, w), mode="bilinear", align_corners=False)
        blocked = r.flatten(2) < 0
        if pilot is not None:
            blocked[:, :pilot.shape[1]] = pilot
        blocked[blocked.all(-1)] = False
    return blocked


class MaskedDecoder(Heads):
    """Mask2Former's transformer decoder, with MP-Former's MP part in training."""

    def __init__(self, c):
        super().__init__(c)
        d = c["hidden"]
        self.c = c
        self.input_proj = nn.ModuleList(nn.Linear(c["pixel_dim"], d) for _ in range(3)) if c["pixel_dim"] != d else None
        self.level_embed = nn.Embedding(3, d)
        self.query_feat = nn.Embedding(c["queries"], d)
        self.query_embed = nn.Embedding(c["queries"], d) if c["query_pos"] else None
        self.label_enc = nn.Embedding(c["num_classes"], d) if c["arch"] == "mpformer" else None
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c["dec_layers"]))

    def forward(self, mf, levels, mp=None, attn_override=None, diag=None):
        """mf [B, C, h4, w4]; levels at strides 32, 16, 8. mp is a dict with
        labels [B, P] (−1 padding), pilots [layer] → [B, P, h·w] bool or None,
        self [Q, Q] bool. attn_override[l] replaces the computed cross-attention
        mask of layer l ([B, Q, h·w] bool; parity). Returns the stages, a list
        of (class logits, mask logits)."""
        c = self.c
        B, H = mf.shape[0], c["heads"]
        mems = []
        for i, x in enumerate(levels):
            h, w = x.shape[-2:]
            tok = x.flatten(2).permute(2, 0, 1)  # [hw, B, C]
            if self.input_proj is not None:
                tok = self.input_proj[i](tok)
            tok = tok + self.level_embed.weight[i]
            mems.append((tok, sine_pos(h, w, c["hidden"]).to(tok.dtype), h, w))
        tgt = self.query_feat.weight.unsqueeze(1).repeat(1, B, 1)
        qpos = self.query_embed.weight.unsqueeze(1).repeat(1, B, 1) if self.query_embed is not None else None
        P, self_mask = 0, None
        if mp is not None:
            labels = mp["labels"]
            P = labels.shape[1]
            keep = (labels >= 0).to(tgt.dtype).unsqueeze(-1)
            content = F.embedding(labels.clamp(min=0), self.label_enc.weight) * keep  # [B, P, D]
            tgt = torch.cat([content.transpose(0, 1), tgt], 0)
            if qpos is not None:
                qpos = torch.cat([qpos.new_zeros(P, B, qpos.shape[-1]), qpos], 0)
            self_mask = mp["self"]
        stages = [predict(self, tgt, mf)]
        for i, layer in enumerate(self.layers):
            tok, pos, h, w = mems[i % 3]
            pilot = mp["pilots"][i] if mp is not None else None
            blocked = attention_mask(stages[-1][1], h, w, pilot)
            if attn_override is not None:
                if diag is not None:
                    diag["attn_cells"] = diag.get("attn_cells", 0) + blocked.numel()
                    diag["attn_disagree"] = diag.get("attn_disagree", 0) + int((blocked != attn_override[i]).sum())
                blocked = attn_override[i]
            Q = blocked.shape[1]
            m3 = blocked.unsqueeze(1).expand(B, H, Q, h * w).reshape(B * H, Q, h * w)
            tgt = layer.cross(tgt, qpos, tok, pos, m3)
            tgt = layer.self_(tgt, qpos, self_mask)
            tgt = layer.ffn_(tgt)
            stages.append(predict(self, tgt, mf))
        return stages


class PlainDecoder(Heads):
    """MaskFormer's DETR decoder: zero content, query positions, self → cross (stride 32) → FFN."""

    def __init__(self, c):
        super().__init__(c)
        d = c["hidden"]
        self.c = c
        self.input_proj = nn.Linear(c["pixel_dim"], d) if c["pixel_dim"] != d else None
        self.query_embed = nn.Embedding(c["queries"], d)
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c["dec_layers"]))

    def forward(self, mf, levels, mp=None, attn_override=None, diag=None):
        c = self.c
        B = mf.shape[0]
        x = levels[0]
        h, w = x.shape[-2:]
        tok = x.flatten(2).permute(2, 0, 1)
        if self.input_proj is not None:
            tok = self.input_proj(tok)
        pos = sine_pos(h, w, c["hidden"]).to(tok.dtype)
        qpos = self.query_embed.weight.unsqueeze(1).repeat(1, B, 1)
        tgt = torch.zeros_like(qpos)
        stages = []
        for layer in self.layers:
            tgt = layer.self_(tgt, qpos, None)
            tgt = layer.cross(tgt, qpos, tok, pos, None)
            tgt = layer.ffn_(tgt)
            stages.append(predict(self, tgt, mf))
        return stages


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.backbone = Backbone(c)
        self.pixel_decoder = MSDeformPixelDecoder(c) if c.get("pixel_decoder") == "msdeform" else FPN(c)
        self.decoder = PlainDecoder(c) if c["arch"] == "maskformer" else MaskedDecoder(c)
        self.register_buffer("mean", torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(PIXEL_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images, mp=None, attn_override=None, diag=None):
        """images [B, 3, S, S] in [0, 1] → list of stages (class logits [B, Q, K+1],
        mask logits [B, Q, S/4, S/4])."""
        x = (images - self.mean) / self.std
        mf, levels = self.pixel_decoder(self.backbone(x))
        return self.decoder(mf, levels, mp, attn_override, diag)

    def load_params(self, arrays, prefix="param/"):
        """Copies arrays prefix+name into the parameters; every parameter must be
        present with its shape, and no array under prefix may be left over."""
        names = {k[len(prefix):] for k in arrays if k.startswith(prefix)}
        mine = dict(self.named_parameters())
        if names != set(mine):
            raise ValueError("parameter names differ: only in file %s, only in model %s" % (
                sorted(names - set(mine))[:5], sorted(set(mine) - names)[:5]))
        with torch.no_grad():
            for n, p in mine.items():
                a = arrays[prefix + n]
                if tuple(a.shape) != tuple(p.shape):
                    raise ValueError("%s: file shape %s, model %s" % (n, a.shape, tuple(p.shape)))
                p.copy_(torch.from_numpy(np.asarray(a)))


def build(meta, arrays=None):
    c = meta["model"]
    if isinstance(c, str):
        c = json.loads(c)
    m = Model(c)
    if arrays is not None:
        m.load_params(arrays)
    return m


# ---------------------------------------------------------------- MP part


def self_mask(P, max_gt, N):
    """The (P+N)×(P+N) self-attention mask of model/mp.go, True = blocked."""
    Q = P + N
    row = torch.arange(Q).unsqueeze(1)
    col = torch.arange(Q).unsqueeze(0)
    return (col < P) & ((row >= P) | (row // max_gt != col // max_gt))


def build_mp(c, targets, max_gt, levels, gen=None):
    """MP-Former's MP part for a batch (noise "none"): labels with label noise,
    GT pilots (official points mode: area-downsample, > 1e-8), self mask.
    targets[b] has "classes" [G] and "segmap" [S, S]."""
    if c["mp"]["noise"] != "none":
        raise NotImplementedError("bench: MP noise %r (only 'none')" % c["mp"]["noise"])
    G_ = c["mp"]["groups"]
    P, B, K = G_ * max_gt, len(targets), c["num_classes"]
    labels = torch.full((B, P), -1, dtype=torch.long)
    slot = torch.arange(P) % max_gt
    for b, t in enumerate(targets):
        G = t["classes"].shape[0]
        use = slot < G
        lab = t["classes"][slot[use]]
        if c["mp"]["label_noise"] > 0:
            flip = torch.rand(lab.shape, generator=gen) < c["mp"]["label_noise"]
            lab = torch.where(flip, torch.randint(K, lab.shape, generator=gen), lab)
        labels[b, use] = lab
    L = c["dec_layers"]
    piloted = c["mp"]["pilot_layers"] or L
    per_level = []
    for (h, w) in levels:
        pl = torch.ones(B, P, h * w, dtype=torch.bool)
        for b, t in enumerate(targets):
            G = t["classes"].shape[0]
            if G == 0:
                continue
            full = t["masks"].unsqueeze(0)  # [1, G, S, S] float
            cov = F.interpolate(full, size=(h, w), mode="area")[0].flatten(1) > 1e-8
            use = slot < G
            pl[b, use] = ~cov[slot[use]]
        per_level.append(pl)
    pilots = [per_level[i % 3] if i < piloted else None for i in range(L)]
    return {"labels": labels, "pilots": pilots, "self": self_mask(P, max_gt, c["queries"])}


def official_pilots(c, targets, max_gt, levels, draws, swap=False, invert_later=False):
    """The MP rows' cross-attention masks of every layer as the official MP
    decoder (MP-Former mask2former_transformer_decoder.py,
    MultiScaleMaskedTransformerDecoderMaskDN) builds them with mask noise,
    computed from the uniform draws Go exported instead of torch.rand, in
    float32 as the official code (B images, one mask per slot for all heads,
    HEAD_DN False). Returns [layer] -> [B, P, h*w] bool (True = blocked) or
    None for layers without pilots, before the rule that unblocks full rows.

    draws[b] holds the image's exported arrays: "point" {layer: [P, h*w]},
    "shift" [P, 2], "scale" [P] (-1 for padding slots).

      points  prepare_for_dn_v5 (layer 1) and gen_mask_dn (after each layer):
              blocked = area-resized GT <= 1e-8; every cell flips where
              rand < ns * open cells / (h*w); fresh draws per layer.
      shift   prepare_for_dn_v6: at the finest level (nearest), the object
              cells move by (2u - 1) * (box side / 2) * ns * W and are
              truncated after clamping; the coarser levels are
              nearest-resized from it; drawn once per step.
      scale   prepare_for_dn_v7 (shift_dn False): when u > DN_RATIO the
              finest-level mask is nearest-resized to floor(size*(1+ns))+1
              and moved by trunc((size - scaled size) * box centre).

    swap=True keeps the official x/y swap (the width-derived shift moves
    rows, the height-derived one columns; the scale offsets pair the rows
    with cx); swap=False is the intended geometry that model/mp.go
    implements. invert_later=True keeps what forward_prediction_heads_dn
    does to shift and scale pilots after the first layer: it writes the
    boolean blocked map into the sigmoid probabilities and then blocks
    where they are below 0.5, i.e. it blocks the object and opens the
    background (and opens padding rows); invert_later=False keeps the
    first layer's polarity on every layer, as model/mp.go does."""
    mode, ns = c["mp"]["noise"], float(c["mp"]["noise_ratio"])
    G_ = c["mp"]["groups"]
    P, B, L = G_ * max_gt, len(targets), c["dec_layers"]
    piloted = c["mp"]["pilot_layers"] or L
    slot = torch.arange(P) % max_gt
    f32 = torch.float32

    def boxes_of(full):  # [G, S, S] float -> [G, 4] float32 cx, cy, w, h (normalised)
        S_h, S_w = full.shape[-2:]
        out = torch.zeros(full.shape[0], 4, dtype=f32)
        for g in range(full.shape[0]):
            ys, xs = torch.where(full[g] > 0.5)
            # detectron2 BitMasks.get_bounding_boxes: (x0, y0, x1 + 1, y1 + 1)
            x0, y0, x1, y1 = [torch.tensor(float(v), dtype=f32) for v in (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)]
            # box_xyxy_to_cxcywh, then / (w, h, w, h)
            out[g] = torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]) / torch.tensor([S_w, S_h, S_w, S_h], dtype=f32)
        return out

    def nearest(m, size):  # F.interpolate(nearest) of a 2-D map
        return F.interpolate(m[None, None].to(f32), size=size, mode="nearest")[0, 0]

    per_layer = [None] * L
    if mode == "point":
        for i in range(piloted):
            h, w = levels[i % 3]
            pl = torch.ones(B, P, h * w, dtype=torch.bool)
            for b, t in enumerate(targets):
                G = t["classes"].shape[0]
                if G == 0:
                    continue
                use = slot < G
                blocked = F.interpolate(t["masks"].to(f32).unsqueeze(1), size=(h, w), mode="area").flatten(1) <= 1e-8
                blocked = blocked[slot[use]]
                areas = (~blocked).sum(1)
                ratio = areas.to(f32) * torch.tensor(ns, dtype=f32) / (h * w)
                u = torch.from_numpy(draws[b]["point"][i]).to(f32).reshape(P, h * w)[use]
                pl[b, use] = torch.logical_xor(blocked, u < ratio[:, None])
            per_layer[i] = pl
        return per_layer
    if mode not in ("shift", "scale"):
        raise ValueError("official_pilots: noise %r" % mode)
    h8, w8 = levels[2]
    fixed = [torch.ones(B, P, h * w, dtype=torch.bool) for (h, w) in levels]
    for b, t in enumerate(targets):
        G = t["classes"].shape[0]
        if G == 0:
            continue
        bx = boxes_of(t["masks"])
        for s in range(P):
            j = int(slot[s])
            if j >= G:
                continue
            m8 = nearest(t["masks"][j], (h8, w8)) > 0.5  # object cells at the finest level
            box = bx[j]
            if mode == "shift":
                u = torch.zeros(4, dtype=f32)
                u[:2] = torch.from_numpy(draws[b]["shift"][s]).to(f32)
                diff = torch.zeros(4, dtype=f32)
                diff[:2] = box[2:] / 2
                diff[2:] = box[2:]
                delta = torch.mul(u * 2 - 1.0, diff) * ns
                if swap:  # official: delta *= W; rows += delta[0], columns += delta[1]
                    delta = delta * w8
                    row_off, col_off = delta[0], delta[1]
                else:
                    row_off, col_off = delta[1] * h8, delta[0] * w8
                x, y = torch.where(m8)
                x = (x + row_off).clamp(min=0, max=h8 - 1)
                y = (y + col_off).clamp(min=0, max=w8 - 1)
            else:
                u = torch.tensor(float(draws[b]["scale"][s]), dtype=f32)
                dn_ratio = 1.0 - float(c["mp"]["scale_prob"])
                if u > dn_ratio:
                    size = torch.tensor([h8, w8])
                    scale_size = (size.float() * (1 + ns)).long() + 1
                    centre = box[:2] if swap else box[[1, 0]]  # official: (H - sH) * cx, (W - sW) * cy
                    dc = (size - scale_size).to(f32) * centre
                    big = nearest(m8, scale_size.tolist()) > 0.5
                    x, y = torch.where(big)
                    x = x + dc[0].long()
                    y = y + dc[1].long()
                else:
                    x, y = torch.where(m8)
                x = x.clamp(min=0, max=h8 - 1)
                y = y.clamp(min=0, max=w8 - 1)
            blocked8 = torch.ones(h8, w8, dtype=torch.bool)
            blocked8[x.long(), y.long()] = False
            for l, (h, w) in enumerate(levels):
                fixed[l][b, s] = (nearest(blocked8, (h, w)) > 0.5).flatten()
    for i in range(piloted):
        pl = fixed[i % 3]
        if invert_later and i > 0:
            pl = ~pl
        per_layer[i] = pl
    return per_layer


# ---------------------------------------------------------------- point sampling


def point_sample(inp, coords, **kwargs):
    """detectron2's point_sample (projects/point_rend/point_features.py):
    bilinear F.grid_sample of inp [R, C, H, W] at normalised (x, y) points
    coords [R, P, 2] in [0, 1] (mapped to 2*coords - 1), -> [R, C, P]."""
    out = F.grid_sample(inp, 2.0 * coords.unsqueeze(2) - 1.0, **kwargs)
    return out.squeeze(3)


def calculate_uncertainty(logits):
    """Mask2Former criterion.py: -|logit| (the most uncertain is the largest)."""
    return -(torch.abs(logits))


def get_uncertain_point_coords_with_randomness(coarse_logits, uncertainty_func, num_points,
                                               oversample_ratio, importance_sample_ratio, rand):
    """detectron2's function of that name (point_features.py), with the two
    torch.rand calls replaced by rand(shape): oversample, keep the most
    uncertain int(beta * K) per box (torch.topk), add the rest uniformly.
    coarse_logits [R, 1, H, W] -> [R, K, 2]."""
    R = coarse_logits.shape[0]
    n_sampled = int(num_points * oversample_ratio)
    coords = rand((R, n_sampled, 2))
    unc = uncertainty_func(point_sample(coarse_logits, coords, align_corners=False))
    n_unc = int(importance_sample_ratio * num_points)
    n_rand = num_points - n_unc
    idx = torch.topk(unc[:, 0, :], k=n_unc, dim=1)[1]
    idx = idx + n_sampled * torch.arange(R, dtype=torch.long)[:, None]
    coords_unc = coords.reshape(-1, 2)[idx.reshape(-1), :].reshape(R, n_unc, 2)
    if n_rand > 0:
        coords_unc = torch.cat([coords_unc, rand((R, n_rand, 2))], dim=1)
    return coords_unc


def batch_sigmoid_ce(inputs, targets):
    """Mask2Former matcher.py batch_sigmoid_ce_loss: [N, P] x [M, P] -> [N, M]."""
    hw = inputs.shape[1]
    pos = F.binary_cross_entropy_with_logits(inputs, torch.ones_like(inputs), reduction="none")
    neg = F.binary_cross_entropy_with_logits(inputs, torch.zeros_like(inputs), reduction="none")
    return (torch.einsum("nc,mc->nm", pos, targets) + torch.einsum("nc,mc->nm", neg, 1 - targets)) / hw


def batch_dice(inputs, targets):
    """Mask2Former matcher.py batch_dice_loss: [N, P] x [M, P] -> [N, M]."""
    inputs = inputs.sigmoid()
    num = 2 * torch.einsum("nc,mc->nm", inputs, targets)
    den = inputs.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (num + 1) / (den + 1)


def hungarian_points(c, cls, masks, targets, coords):
    """Mask2Former's HungarianMatcher.memory_efficient_forward for one stage
    on given uniform points: coords[b] [K, 2] (the image's torch.rand(1, K,
    2)); logits [B, N, h4, w4] and the full-resolution GT targets[b]["masks"]
    point-sampled there; cost w_mask*BCE + w_class*(-p) + w_dice*dice in
    float32; SciPy's linear_sum_assignment. Returns [G] query per GT (-1)."""
    from scipy.optimize import linear_sum_assignment
    lw = c["loss"]
    out = []
    with torch.no_grad():
        for b, t in enumerate(targets):
            G = t["classes"].shape[0]
            m = torch.full((G,), -1, dtype=torch.long)
            if G > 0:
                pc = coords[b].to(masks.dtype)[None]
                N = masks.shape[1]
                tgt = point_sample(t["masks"].to(masks.dtype)[:, None], pc.repeat(G, 1, 1), align_corners=False).squeeze(1)
                om = point_sample(masks[b][:, None], pc.repeat(N, 1, 1), align_corners=False).squeeze(1)
                om, tgt = om.float(), tgt.float()
                prob = cls[b].float().softmax(-1)
                C = (lw["match_mask"] * batch_sigmoid_ce(om, tgt) + lw["match_class"] * -prob[:, t["classes"]]
                     + lw["match_dice"] * batch_dice(om, tgt))
                q, g = linear_sum_assignment(C.numpy())
                m[torch.from_numpy(g)] = torch.from_numpy(q).long()
            out.append(m)
    return out


def point_mask_terms(c, src, full, keys, draws, diag):
    """Mask2Former criterion.py loss_masks for R pairs: src [R, h4, w4]
    logits, full [R, S, S] their GT; the points chosen by
    get_uncertain_point_coords_with_randomness on the pairs' exported draws
    (draws[key] = (candidates [n, 2], random [m, 2], chosen [K, 2]) by the
    pair's key), the GT and logits point-sampled there. Returns per-pair BCE
    (mean over points) and dice, [R] each. Counts in diag the pairs whose
    chosen point set differs from Go's (point_sets_differ) and those where
    it differs only at a near tie of the uncertainty (point_sets_near_tie)."""
    K, lw = c["loss"]["points"], c["loss"]
    feed = iter([torch.stack([torch.from_numpy(draws[k][0]) for k in keys]).to(src.dtype),
                 torch.stack([torch.from_numpy(draws[k][1]) for k in keys]).to(src.dtype)])

    def rand(shape):
        t = next(feed)
        if tuple(t.shape) != tuple(shape):
            raise ValueError("draws of shape %s where the official code asks for %s" % (tuple(t.shape), shape))
        return t

    with torch.no_grad():
        coords = get_uncertain_point_coords_with_randomness(
            src.detach()[:, None], calculate_uncertainty, K, lw["oversample"], lw["importance"], rand)
        n_unc = int(lw["importance"] * K)
        for r, k in enumerate(keys):
            go = torch.from_numpy(draws[k][2]).to(coords.dtype)
            mine = coords[r]
            diag["point_sets"] = diag.get("point_sets", 0) + 1
            if torch.equal(_sorted_rows(mine[:n_unc]), _sorted_rows(go[:n_unc])) and torch.equal(mine[n_unc:], go[n_unc:]):
                continue
            # A set that differs only by candidates whose uncertainty ties
            # the selection threshold within rounding (torch ranks float32
            # grid_sample values, Go float64 ones) is a near tie: the
            # reference then uses Go's points. Any other difference fails.
            cand = torch.from_numpy(draws[k][0]).double()
            unc = -point_sample(src[r].detach().double()[None, None], cand[None], align_corners=False).abs().flatten()
            thr = torch.topk(unc, n_unc)[0][-1]
            ids = lambda pts: {tuple(p) for p in pts.double().tolist()}
            odd = ids(mine[:n_unc]) ^ ids(go[:n_unc])
            where = {tuple(p): i for i, p in enumerate(cand.tolist())}
            gap = max(abs(float(unc[where[p]] - thr)) for p in odd) if odd else float("inf")
            if odd and gap <= 1e-5 * (1 + abs(float(thr))) and torch.equal(mine[n_unc:], go[n_unc:]):
                diag["point_sets_near_tie"] = diag.get("point_sets_near_tie", 0) + 1
                diag["point_sets_near_tie_gap"] = max(diag.get("point_sets_near_tie_gap", 0.0), gap)
                coords[r] = go
            else:
                diag["point_sets_differ"] = diag.get("point_sets_differ", 0) + 1
        labels = point_sample(full[:, None].to(src.dtype), coords, align_corners=False).squeeze(1)
    logits = point_sample(src[:, None], coords, align_corners=False).squeeze(1)
    bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1)
    return bce, _dice_rows(logits, labels)


def _sorted_rows(x):
    """Rows of x [n, 2] in lexicographic order (the uncertain points as a set)."""
    a = x.detach().numpy()
    return torch.from_numpy(a[np.lexsort((a[:, 1], a[:, 0]))].copy())


# ---------------------------------------------------------------- criterion


def norms(c, targets):
    """Batch-wide normalisers of model/criterion.go computeNorms."""
    N, w0 = c["queries"], c["loss"]["no_object_weight"]
    counts = [t["classes"].shape[0] for t in targets]
    max_gt = max(counts) if counts else 0
    ce_den = sum(min(G, N) + w0 * (N - min(G, N)) for G in counts)
    mp_ce_den = 0.0
    if c["arch"] == "mpformer":
        mp_ce_den = sum(c["mp"]["groups"] * (G + w0 * (max_gt - G)) for G in counts)
    return {"num_masks": max(float(sum(counts)), 1.0), "ce_den": ce_den, "mp_ce_den": mp_ce_den, "max_gt": max_gt}


def _dice_rows(x, t):
    s = x.sigmoid()
    return 1 - (2 * (s * t).sum(-1) + 1) / (s.sum(-1) + t.sum(-1) + 1)


def hungarian(c, cls, masks, targets):
    """Per-image Hungarian matching of one stage (matching rows only), with
    the Mask2Former cost on every stride-4 pixel (Loss.Points == 0):
    w_class·(−p(c_g)) + w_mask·BCE + w_dice·dice, solved by SciPy. Returns a
    list of LongTensor [G] (query of GT g, −1 if unmatched)."""
    from scipy.optimize import linear_sum_assignment
    lw = c["loss"]
    out = []
    with torch.no_grad():
        prob = cls.softmax(-1)
        for b, t in enumerate(targets):
            G = t["classes"].shape[0]
            m = torch.full((G,), -1, dtype=torch.long)
            if G > 0:
                x = masks[b].flatten(1)  # [N, P4]
                tg = t["cover4"]  # [G, P4]
                p4 = x.shape[1]
                bce = (F.softplus(x).sum(-1, keepdim=True) - x @ tg.T) / p4
                s = x.sigmoid()
                dice = 1 - (2 * (s @ tg.T) + 1) / (s.sum(-1, keepdim=True) + tg.sum(-1)[None] + 1)
                cost = -lw["match_class"] * prob[b][:, t["classes"]] + lw["match_mask"] * bce + lw["match_dice"] * dice
                q, g = linear_sum_assignment(cost.numpy())
                m[torch.from_numpy(g)] = torch.from_numpy(q).long()
            out.append(m)
    return out


def criterion(c, stages, P, targets, nm, matches, points=None, diag=None):
    """Mask2Former's criterion summed over stages (and MP-Former's MP losses),
    normalised batch-wide as model/criterion.go. targets[b]: "classes" [G] long,
    "cover4" [G, h4·w4], "masks" [G, S, S] (full resolution). matches[s][b]:
    LongTensor [G]. Without points the mask terms score every stride-4 pixel
    against cover4 (Loss.Points == 0); with points (the exported draws: a dict
    (stage, mp, image, row) -> (candidates, random, chosen)) they follow the
    official loss_masks: importance-sampled points, full-resolution GT
    point-sampled, pairs in the official order (per image by query; MP slots
    in slot order). Returns the batch loss and per-image terms {"total",
    "class", "mask", …: tensor [B]}."""
    K, N, lw = c["num_classes"], c["queries"], c["loss"]
    B = len(targets)
    cw = torch.ones(K + 1)
    cw[K] = lw["no_object_weight"]
    terms = {k: torch.zeros(B) for k in ("class", "mask", "dice", "mp_class", "mp_mask", "mp_dice")}
    stage_loss = []
    # fixed parts: GT lists and the MP assignment
    cover = [t["cover4"] for t in targets]
    counts = [t["classes"].shape[0] for t in targets]
    if diag is None:
        diag = {}

    def pair_terms(s, mp, masks4, bidx, qidx, gidx, tg):
        """Per-pair BCE and dice of rows qidx of images bidx against GT gidx."""
        if points is None:
            src = masks4.flatten(2)[bidx, qidx]
            bce = F.binary_cross_entropy_with_logits(src, tg, reduction="none").mean(1)
            return bce, _dice_rows(src, tg)
        full = torch.stack([targets[int(b)]["masks"][int(g)] for b, g in zip(bidx, gidx)])
        keys = [(s, mp, int(b), int(q)) for b, q in zip(bidx, qidx)]
        return point_mask_terms(c, masks4[bidx, qidx], full, keys, points, diag)

    mp_tcls = mp_b = mp_q = mp_g = mp_t = None
    if P > 0:
        max_gt = P // c["mp"]["groups"]
        slot = torch.arange(P) % max_gt
        mp_tcls = torch.full((B, P), K, dtype=torch.long)
        bs, qs, gs, ts = [], [], [], []
        for b, t in enumerate(targets):
            use = slot < counts[b]
            mp_tcls[b, use] = t["classes"][slot[use]]
            idx = torch.nonzero(use).flatten()
            bs.append(torch.full_like(idx, b))
            qs.append(idx)
            gs.append(slot[idx])
            ts.append(cover[b][slot[idx]])
        mp_b, mp_q, mp_g, mp_t = torch.cat(bs), torch.cat(qs), torch.cat(gs), torch.cat(ts)
    for s, (cls, masks4) in enumerate(stages):
        cls_m, msk_m4 = cls[:, P:], masks4[:, P:]
        tcls = torch.full((B, N), K, dtype=torch.long)
        bs, qs, gs, ts = [], [], [], []
        for b, t in enumerate(targets):
            m = matches[s][b]
            ok = m >= 0
            tcls[b, m[ok]] = t["classes"][ok]
            # the official order: the matcher's pairs sorted by query
            q, order = torch.sort(m[ok])
            g = torch.nonzero(ok).flatten()[order]
            bs.append(torch.full((int(ok.sum()),), b, dtype=torch.long))
            qs.append(q)
            gs.append(g)
            ts.append(cover[b][g])
        ce = F.cross_entropy(cls_m.reshape(-1, K + 1), tcls.flatten(), weight=cw, reduction="none").view(B, N).sum(1)
        st = ce * (lw["class_weight"] / nm["ce_den"])
        terms["class"] = terms["class"] + st
        bidx, qidx, gidx = torch.cat(bs), torch.cat(qs), torch.cat(gs)
        if bidx.numel() > 0:
            bce, dice = pair_terms(s, 0, msk_m4, bidx, qidx, gidx, torch.cat(ts))
            bce = torch.zeros(B).index_add(0, bidx, bce) * (lw["mask_weight"] / nm["num_masks"])
            dice = torch.zeros(B).index_add(0, bidx, dice) * (lw["dice_weight"] / nm["num_masks"])
            terms["mask"] = terms["mask"] + bce
            terms["dice"] = terms["dice"] + dice
            st = st + bce + dice
        stage_loss.append(st)
        if P > 0:
            if not c["mp"]["no_class_loss"]:
                ce = F.cross_entropy(cls[:, :P].reshape(-1, K + 1), mp_tcls.flatten(), weight=cw, reduction="none").view(B, P).sum(1)
                terms["mp_class"] = terms["mp_class"] + ce * (lw["class_weight"] / nm["mp_ce_den"])
            if mp_b.numel() > 0:
                den = nm["num_masks"] * c["mp"]["groups"]
                bce, dice = pair_terms(s, 1, masks4, mp_b, mp_q, mp_g, mp_t)
                terms["mp_mask"] = terms["mp_mask"] + torch.zeros(B).index_add(0, mp_b, bce) * (lw["mask_weight"] / den)
                terms["mp_dice"] = terms["mp_dice"] + torch.zeros(B).index_add(0, mp_b, dice) * (lw["dice_weight"] / den)
    total = sum(terms.values())
    terms["total"] = total
    terms["stage"] = torch.stack(stage_loss, 1)  # [B, stages]
    return total.sum(), terms


# ---------------------------------------------------------------- optimiser


def make_optimizer(model, no_decay, adamw):
    """torch.optim.AdamW with the Go model's NoDecay set (biases, norms,
    embeddings) exempt from weight decay, as model/optim.AdamW."""
    nd = set(no_decay)
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if n not in nd], "weight_decay": adamw["weight_decay"]},
        {"params": [p for n, p in named if n in nd], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=0.0, betas=(adamw["beta1"], adamw["beta2"]), eps=adamw["eps"])
