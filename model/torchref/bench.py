"""Time PyTorch training steps of the reference model on the batches of a race.

    /usr/bin/python3 model/torchref/bench.py BENCH.npz --threads T [--warmup W] [--bf16]

BENCH.npz is written by model.WriteTorchBench (Go; `mpanalyze bench torch`
does it): the model config, the initial weights, the training config (AdamW,
clipping), the learning rate of each step and the batches of every step.
Each step is what the Go trainer does, written the way PyTorch code
normally is (batched over the images, official Mask2Former style):

    MP part (MP-Former: labels with label noise, GT pilots, self mask)
    → forward (all stages) → Hungarian matching of every stage (SciPy,
    full stride-4 pixel cost, no gradient) → criterion → backward
    → clip_grad_norm_ (full model) → torch.optim.AdamW step.

Batches are converted to tensors before the clock starts (the Go side also
gets them ready-made). The first W steps are warm-up; images/s is the
number of images of the other steps over their wall time (images_per_cpu_s
over the process's CPU time). Prints one JSON object on stdout.
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchref as tr  # noqa: E402


def load_batches(arr, steps, batch):
    out = []
    for s in range(steps):
        imgs, targets = [], []
        for b in range(batch):
            pre = "step%d/img%d/" % (s, b)
            imgs.append(torch.from_numpy(arr[pre + "input"]))
            cls = torch.from_numpy(arr[pre + "classes"]).long()
            G = cls.shape[0]
            seg = torch.from_numpy(arr[pre + "segmap"])
            targets.append({
                "classes": cls,
                "cover4": torch.from_numpy(arr[pre + "cover4"]).reshape(G, -1),
                "masks": (seg.unsqueeze(0) == torch.arange(1, G + 1, dtype=seg.dtype).view(G, 1, 1)).float(),
            })
        out.append((torch.stack(imgs), targets))
    return out


def fp32_group_norm():
    """CPU autocast in PyTorch 1.13 passes bfloat16 activations to group
    norm with FP32 weights, which it refuses: run group norm in FP32, as
    autocast does on CUDA, and hand back bfloat16."""
    orig = torch.nn.functional.group_norm

    def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
        y = orig(x.float(), num_groups, weight, bias, eps)
        return y.to(x.dtype)
    torch.nn.functional.group_norm = group_norm


def train_step(model, opt, c, images, targets, lr, clip, gen, bf16):
    S = c["image_size"]
    nm = tr.norms(c, targets)
    mp, P = None, 0
    if c["arch"] == "mpformer" and nm["max_gt"] > 0:
        levels = [(S // s, S // s) for s in (32, 16, 8)]
        mp = tr.build_mp(c, targets, nm["max_gt"], levels, gen)
        P = mp["labels"].shape[1]
    if bf16:
        # Mixed precision the way the official code trains with AMP: the
        # forward under autocast, the matcher and the criterion in FP32.
        with torch.autocast("cpu", dtype=torch.bfloat16):
            stages = model(images, mp)
        stages = [(cls.float(), msk.float()) for cls, msk in stages]
    else:
        stages = model(images, mp)
    matches = [tr.hungarian(c, cls[:, P:], msk[:, P:], targets) for cls, msk in stages]
    loss, _ = tr.criterion(c, stages, P, targets, nm, matches)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    for g in opt.param_groups:
        g["lr"] = lr
    opt.step()
    return float(loss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="forward under CPU autocast to bfloat16")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.bf16:
        fp32_group_norm()
    torch.set_num_interop_threads(1)

    meta, arr = tr.load_npz(a.bench)
    c = meta["model"]
    info = meta["extra"]["bench"]
    train = meta["train"]
    steps, batch = info["steps"], info["batch"]
    if a.warmup >= steps:
        raise SystemExit("bench: %d warm-up steps of %d" % (a.warmup, steps))
    model = tr.Model(c)
    model.load_params(arr)
    model.train()
    opt = tr.make_optimizer(model, info["no_decay"], train["adamw"])
    batches = load_batches(arr, steps, batch)
    del arr
    gen = torch.Generator().manual_seed(0)

    times, cpu, losses = [], [], []
    for s, (images, targets) in enumerate(batches):
        t0, c0 = time.perf_counter(), time.process_time()
        losses.append(train_step(model, opt, c, images, targets, info["lr"][s], train["clip_norm"], gen, a.bf16))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    timed = times[a.warmup:]
    timed_cpu = cpu[a.warmup:]
    print(json.dumps({
        "side": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "precision": "bf16" if a.bf16 else "fp32",
        "arch": c["arch"],
        "image_size": c["image_size"],
        "batch": batch,
        "steps": len(timed),
        "warmup": a.warmup,
        "seconds": sum(timed),
        "images_per_s": len(timed) * batch / sum(timed),
        # CPU time of the process (all its threads): with one thread, the
        # per-core cost that load on a shared machine disturbs least
        "cpu_seconds": sum(timed_cpu),
        "images_per_cpu_s": len(timed_cpu) * batch / sum(timed_cpu),
        "step_seconds": times,
        "losses": losses,
    }))


if __name__ == "__main__":
    main()
