"""Tiny randomly initialised models built to the real interfaces, for the
adapter tests (neither detectron2 nor transformers is installed here).

- TinyDecoder: the official MultiScaleMaskedTransformerDecoder's interface
  (facebookresearch/Mask2Former,
  mask2former/modeling/transformer_decoder/mask2former_transformer_decoder.py):
  forward(x, mask_features, mask=None) with x the list of 3 feature levels
  (lowest resolution first), prediction heads before the first layer and
  after each, masked cross-attention at level i mod 3 with the mask of the
  previous stage resized to that level (sigmoid < 0.5 blocked, entirely
  blocked rows unblocked), and the output {"pred_logits", "pred_masks",
  "aux_outputs"}. It keeps the attention masks it used (used_attn) so that
  the tests can compare the recorded ones with them.
- TinyMPDecoder: the official MP-Former decoder's interface
  (IDEA-Research/MP-Former, same path, MultiScaleMaskedTransformerDecoderMaskDN):
  forward(x, mask_features, mask=None, dn_args=None); with dn_args, P
  mask-pilot rows run before the matching queries and are split off into
  dn_out, which is None at inference.
- TinyMetaArch: detectron2's MaskFormer meta-architecture as far as the
  hook sees it: forward(batched_inputs) pads the images like
  ImageList.from_tensors(size_divisibility=32) and calls
  sem_seg_head(features), whose predictor is the decoder.
- TinyHF: HF transformers' Mask2FormerForUniversalSegmentation outputs
  (class_queries_logits, masks_queries_logits, auxiliary_logits as a list
  of {"class_queries_logits", "masks_queries_logits"} for the stages before
  the last, pixel_decoder_hidden_states), from the same decoder.
"""

import torch
import torch.nn.functional as F
from torch import nn


class TinyDecoder(nn.Module):
    def __init__(self, in_channels=3, num_classes=3, hidden_dim=16, num_queries=5, nheads=2, dec_layers=4, mask_dim=8):
        super().__init__()
        self.num_heads = nheads
        self.num_layers = dec_layers
        self.num_queries = num_queries
        self.num_feature_levels = 3
        self.cross = nn.ModuleList([nn.MultiheadAttention(hidden_dim, nheads) for _ in range(dec_layers)])
        self.ffn = nn.ModuleList([nn.Linear(hidden_dim, hidden_dim) for _ in range(dec_layers)])
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(3, hidden_dim)
        self.input_proj = nn.ModuleList([nn.Conv2d(in_channels, hidden_dim, 1) for _ in range(3)])
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, mask_dim))
        self.used_attn = []

    def heads(self, output, mask_features, size):
        out = self.decoder_norm(output).transpose(0, 1)
        cls = self.class_embed(out)
        masks = torch.einsum("bqc,bchw->bqhw", self.mask_embed(out), mask_features)
        a = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
        attn = a.sigmoid().flatten(2) < 0.5  # [B, Q, hw]
        return cls, masks, attn

    def run(self, x, mask_features, extra=None):
        """Stages of the matching queries, and of extra rows [P, B, C] run
        before them (which the matching queries cannot see)."""
        sizes = [f.shape[-2:] for f in x]
        src = [(self.input_proj[i](x[i]).flatten(2) + self.level_embed.weight[i][None, :, None]).permute(2, 0, 1)
               for i in range(3)]
        bs = src[0].shape[1]
        output = self.query_feat.weight.unsqueeze(1).repeat(1, bs, 1)
        qpos = self.query_embed.weight.unsqueeze(1).repeat(1, bs, 1)
        P = 0
        if extra is not None:
            P = extra.shape[0]
            output = torch.cat([extra, output])
            qpos = torch.cat([torch.zeros_like(extra), qpos])
        cls, masks, attn = self.heads(output, mask_features, sizes[0])
        classes, all_masks, self.used_attn = [cls], [masks], []
        for i in range(self.num_layers):
            level = i % 3
            full = attn.all(-1)
            attn = attn.clone()
            attn[full] = False
            self.used_attn.append((attn[:, P:].reshape(bs, -1, *sizes[level]).clone(), full[:, P:].clone()))
            a = attn.repeat_interleave(self.num_heads, 0)
            # the official forward rows' attention: each row attends by itself
            out, _ = self.cross[i](output + qpos, src[level], src[level], attn_mask=a)
            output = output + out
            output = output + torch.relu(self.ffn[i](output))
            cls, masks, attn = self.heads(output, mask_features, sizes[(i + 1) % 3])
            classes.append(cls)
            all_masks.append(masks)
        return classes, all_masks, P

    @staticmethod
    def as_output(classes, masks):
        return {"pred_logits": classes[-1], "pred_masks": masks[-1],
                "aux_outputs": [{"pred_logits": a, "pred_masks": b} for a, b in zip(classes[:-1], masks[:-1])]}

    def forward(self, x, mask_features, mask=None):
        classes, masks, _ = self.run(x, mask_features)
        return self.as_output(classes, masks)


class TinyMPDecoder(TinyDecoder):
    """MP-Former's interface: dn_args={"pilots": P} runs P mask-pilot rows
    (noised GT queries in the official code) before the matching queries;
    the output's pred_* and aux_outputs hold the matching queries and dn_out
    the pilots (None without dn_args)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.label_enc = nn.Embedding(4, self.query_feat.weight.shape[1])

    def forward(self, x, mask_features, mask=None, dn_args=None):
        extra = None
        if dn_args is not None:
            P = dn_args["pilots"]
            bs = x[0].shape[0]
            extra = self.label_enc.weight[torch.arange(P) % 4].unsqueeze(1).repeat(1, bs, 1)
        classes, masks, P = self.run(x, mask_features, extra)
        out = self.as_output([c[:, P:] for c in classes], [m[:, P:] for m in masks])
        out["dn_out"] = None
        if P:
            out["dn_out"] = dict(self.as_output([c[:, :P] for c in classes], [m[:, :P] for m in masks]),
                                 dn_args={"pad_size": P})
        return out


class TinyBackbone(nn.Module):
    """Feature levels at strides 32, 16, 8 (the decoder's order) and mask
    features at stride 4, from average pooling (ceil_mode, as convolutions
    with padding give ceil(H / stride))."""

    def __init__(self, mask_dim=8):
        super().__init__()
        self.mask_features = nn.Conv2d(3, mask_dim, 1)

    def forward(self, images):
        levels = [F.avg_pool2d(images, s, ceil_mode=True) for s in (32, 16, 8)]
        return levels, self.mask_features(F.avg_pool2d(images, 4, ceil_mode=True))


class TinyHead(nn.Module):
    """MaskFormerHead's call of the predictor: predictor(multi_scale_features,
    mask_features, mask), and MP-Former's dn_args keyword."""

    def __init__(self, predictor, mask_dim=8):
        super().__init__()
        self.pixel_decoder = TinyBackbone(mask_dim)
        self.predictor = predictor

    def forward(self, images, mask=None, dn_args=None):
        levels, mask_features = self.pixel_decoder(images)
        if dn_args is None:
            return self.predictor(levels, mask_features, mask)
        return self.predictor(levels, mask_features, mask, dn_args=dn_args)


def pad_batch(images, size_divisibility=32):
    """detectron2's ImageList.from_tensors: every image at the top left of
    the largest one, rounded up to size_divisibility, zero padded."""
    H = max(im.shape[-2] for im in images)
    W = max(im.shape[-1] for im in images)
    if size_divisibility > 1:
        H = -(-H // size_divisibility) * size_divisibility
        W = -(-W // size_divisibility) * size_divisibility
    out = torch.zeros(len(images), images[0].shape[0], H, W)
    for i, im in enumerate(images):
        out[i, :, :im.shape[-2], :im.shape[-1]] = im
    return out


class TinyMetaArch(nn.Module):
    """detectron2's MaskFormer meta-architecture, as far as a hook on
    sem_seg_head.predictor sees it."""

    def __init__(self, predictor, size_divisibility=32):
        super().__init__()
        self.sem_seg_head = TinyHead(predictor)
        self.size_divisibility = size_divisibility
        self.dn_args = None  # MP-Former: set to pass dn_args (training-time pilots)

    def forward(self, batched_inputs):
        images = pad_batch([x["image"].float() / 255 for x in batched_inputs], self.size_divisibility)
        return self.sem_seg_head(images, dn_args=self.dn_args)


class TinyHFOutput(dict):
    """HF's ModelOutput: attributes and keys."""

    __getattr__ = dict.get


class TinyHF(nn.Module):
    """Mask2FormerForUniversalSegmentation's outputs from TinyDecoder."""

    def __init__(self, decoder):
        super().__init__()
        self.backbone = TinyBackbone()
        self.decoder = decoder

    def forward(self, pixel_values, pixel_mask=None, output_hidden_states=None, output_auxiliary_logits=None):
        levels, mask_features = self.backbone(pixel_values)
        classes, masks, _ = self.decoder.run(levels, mask_features)
        aux = [{"masks_queries_logits": m, "class_queries_logits": c} for m, c in zip(masks[:-1], classes[:-1])]
        return TinyHFOutput(class_queries_logits=classes[-1], masks_queries_logits=masks[-1],
                            auxiliary_logits=aux if output_auxiliary_logits else None,
                            pixel_decoder_hidden_states=tuple(levels) if output_hidden_states else None)


class BitMasks:
    """detectron2's BitMasks: the [G, h, w] bool masks in .tensor."""

    def __init__(self, tensor):
        self.tensor = tensor


class PolygonMasks:
    def __init__(self, polygons):
        self.polygons = polygons


class Instances:
    """detectron2's Instances, with gt_classes and gt_masks."""

    def __init__(self, gt_classes, gt_masks):
        self.gt_classes = gt_classes
        self.gt_masks = gt_masks
