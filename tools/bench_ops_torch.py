"""PyTorch's side of `benches/ops.rs`: each layer kind of ConvNet-3 w128 and ResNet-20 at batch 64,
timed alone at the step's shapes: the forward, and forward + backward with only the input or only
the weight (γ for norms) requiring grad, less the forward. Same threads as distillery
(RAYON_NUM_THREADS, else every core), 5 warm-up + BENCH_STEPS (default 10) runs, median. One JSON
line per shape, keyed as the Rust side keys it."""
import json
import os
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("RAYON_NUM_THREADS", os.cpu_count())))
STEPS = int(os.environ.get("BENCH_STEPS", "10"))
B = 64


def shapes():
    for c_in, c, hw in [(3, 128, 32), (128, 128, 16), (128, 128, 8)]:
        yield "conv", [B, c_in, hw, hw], c, 1
        yield "inorm-relu-pool", [B, c, hw, hw], 0, 1
    yield "conv", [B, 3, 32, 32], 16, 1
    for stage, (c, hw) in enumerate([(16, 32), (32, 16), (64, 8)]):
        if stage > 0:
            yield "conv", [B, c // 2, hw * 2, hw * 2], c, 2
        yield "conv", [B, c, hw, hw], c, 1
        yield "bnorm-relu", [B, c, hw, hw], 0, 1
        yield "bnorm", [B, c, hw, hw], 0, 1
        yield "relu", [B, c, hw, hw], 0, 1


def run(kind, x, w, gamma, beta, stride):
    if kind == "conv":
        return F.conv2d(x, w, None, stride, 1)
    if kind == "inorm-relu-pool":
        return F.avg_pool2d(F.relu(F.group_norm(x, x.shape[1], gamma, beta)), 2)
    if kind == "bnorm-relu":
        return F.relu(F.batch_norm(x, None, None, gamma, beta, training=True))
    if kind == "bnorm":
        return F.batch_norm(x, None, None, gamma, beta, training=True)
    if kind == "relu":
        return F.relu(x)
    raise ValueError(kind)


def timed(f):
    # 5 warm-up runs: oneDNN builds a kernel the first time it meets a shape and mode
    times = []
    for i in range(STEPS + 5):
        t0 = time.perf_counter()
        f()
        if i >= 5:
            times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


seen = set()
for kind, (n, c, h, w_), out, stride in shapes():
    key = f"{kind} [{n}, {c}, {h}, {w_}]/{out}/{stride}"
    if key in seen:
        continue
    seen.add(key)
    x = torch.randn(n, c, h, w_)
    channels = out if kind == "conv" else c
    w = torch.randn(max(out, 1), c, 3, 3) * 0.1
    gamma, beta = torch.ones(channels), torch.zeros(channels)

    def forward():
        with torch.no_grad():
            return run(kind, x, w, gamma, beta, stride).sum().item()

    def with_x():
        xt = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(run(kind, xt, w, gamma, beta, stride).sum(), xt)
        return g.sum().item()

    def with_w():
        if kind == "conv":
            wt = w.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(run(kind, x, wt, gamma, beta, stride).sum(), wt)
        else:
            gt = gamma.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(run(kind, x, w, gt, beta, stride).sum(), gt)
        return g.sum().item()

    fwd = timed(forward)
    # the autograd forward (graph recorded) is the baseline the gradients are measured against
    fwd_graph = timed(lambda: run(kind, x.clone().requires_grad_(True), w, gamma, beta, stride).sum().item())
    dx = max(timed(with_x) - fwd_graph, 0.0)
    dw = max(timed(with_w) - fwd_graph, 0.0) if kind in ("conv", "inorm-relu-pool", "bnorm", "bnorm-relu") else 0.0
    print(json.dumps({"impl": "pytorch", "key": key, "kind": kind, "fwd": round(fwd, 3), "dx": round(dx, 3), "dw": round(dw, 3),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
