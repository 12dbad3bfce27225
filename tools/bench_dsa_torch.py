"""One class of DSA gradient matching in PyTorch (CPU, float32): real and synthetic batches
through one siamese rotate, weight gradients, the matching distance, and ∂D/∂S by double backward
(create_graph=True) — the step `benches/dsa.rs` times in distillery. Prints one JSON line per
setting. Env: BENCH_STEPS (default 10); threads as distillery's (RAYON_NUM_THREADS, else every core).
The width-128 rows with 256 real images are the official setting at IPC 1, 10 and 50: ten of
them (one per class) are the matching part of one outer iteration."""
import json
import math
import os
import time

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(int(os.environ.get("RAYON_NUM_THREADS", os.cpu_count())))
STEPS = int(os.environ.get("BENCH_STEPS", "10"))


def make(width, depth=3, classes=10):
    convs = [torch.randn(width, 1 if d == 0 else width, 3, 3) * 0.2 for d in range(depth)]
    bias = [torch.zeros(width) for _ in range(depth)]
    fc = torch.randn(classes, width * 16) * 0.05
    return convs, bias, fc


def forward(x, convs, bias, fc):
    for d, (w, b) in enumerate(zip(convs, bias)):
        x = F.conv2d(x, w, b, padding=3 if d == 0 else 1)
        x = F.group_norm(x, w.shape[0], torch.ones(w.shape[0]), torch.zeros(w.shape[0]))
        x = F.avg_pool2d(F.relu(x), 2)
    return F.linear(x.flatten(1), fc)


def rotate(x, t=0.2):
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]]).unsqueeze(0).expand(x.shape[0], 2, 3)
    return F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=True), align_corners=True)


def step(real, syn, params, bias):
    syn = syn.clone().requires_grad_(True)
    w = [p.clone().requires_grad_(True) for p in params]
    y = torch.zeros(real.shape[0], dtype=torch.long)
    gr = [g.detach() for g in torch.autograd.grad(F.cross_entropy(forward(rotate(real), w[:-1], bias, w[-1]), y), w)]
    ys = torch.zeros(syn.shape[0], dtype=torch.long)
    gs = torch.autograd.grad(F.cross_entropy(forward(rotate(syn), w[:-1], bias, w[-1]), ys), w, create_graph=True)
    d = sum(torch.sum(1 - torch.sum(a.flatten(1) * b.flatten(1), -1) / (a.flatten(1).norm(dim=-1) * b.flatten(1).norm(dim=-1) + 1e-6)) for a, b in zip(gs, gr))
    (g,) = torch.autograd.grad(d, syn)
    return g


for width, n_real, n_syn in [(64, 64, 10), (128, 256, 1), (128, 256, 10), (128, 256, 50)]:
    convs, bias, fc = make(width)
    real, syn = torch.randn(n_real, 1, 28, 28), torch.randn(n_syn, 1, 28, 28)
    times = []
    for i in range(STEPS + 3):
        t0 = time.perf_counter()
        step(real, syn, convs + [fc], bias)
        if i >= 3:
            times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"impl": "pytorch", "width": width, "real": n_real, "syn": n_syn, "ms": round(times[len(times) // 2] * 1e3, 1), "threads": torch.get_num_threads(), "torch": torch.__version__}))
