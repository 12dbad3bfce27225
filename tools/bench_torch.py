"""PyTorch reference for `benches/step.rs`: the same models, batch and step (forward + backward +
SGD momentum 0.9, wd 5e-4) on the CPU, with the thread count distillery uses (RAYON_NUM_THREADS,
else every core), 3 warm-up steps, then the median of BENCH_STEPS (default 10) timed steps; one
process per row (its peak RSS is its own). Writes JSON lines to stdout; `scale` as argument for
the scaling table's rows. Each line records torch's version and threads, the parameter count (to
check the models match distillery's) and the step's FLOP rate.

The architectures mirror distillery's: DC ConvNet-3 (width 128, GroupNorm(128, 128) as the
official code's instancenorm, avg-pool) and CIFAR ResNet-20 (BasicBlocks, 1x1-conv + BN
projection shortcuts).
"""
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def convnet(width=128, depth=3, channels=3, classes=10):
    layers, c = [], channels
    for _ in range(depth):
        layers += [nn.Conv2d(c, width, 3, padding=1), nn.GroupNorm(width, width, affine=True), nn.ReLU(), nn.AvgPool2d(2)]
        c = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * 4 * 4, classes))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))
        self.b = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.b(F.relu(self.a(x)))
        return F.relu(out + (self.skip(x) if self.skip is not None else x))


def resnet(depth=20, classes=10):
    n = (depth - 2) // 6
    layers, c = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for i, w in enumerate([16, 32, 64]):
        for j in range(n):
            layers.append(Block(c, w, 2 if i > 0 and j == 0 else 1))
            c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))


def peak_rss_mib():
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def model_for(name):
    if name.startswith("convnet3-w"):
        return convnet(width=int(name[len("convnet3-w"):]))
    return resnet(int(name[len("resnet"):]))


def training_gflop(model, batch):
    """Multiply-adds of every conv and linear layer, forward, for one 3x32x32 batch; a training
    step is ~3x that (forward, input gradient, weight gradient), 2 FLOP per multiply-add."""
    macs = 0

    def hook(m, inp, out):
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            macs += out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
        elif isinstance(m, nn.Linear):
            macs += out.numel() * m.in_features
    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(batch, 3, 32, 32))
    for h in hooks:
        h.remove()
    return 3 * 2 * macs / 1e9


def bench(name, batch, steps):
    """One row in this process: WARMUP untimed steps, then the median of `steps` timed ones."""
    torch.manual_seed(0)
    model = model_for(name)
    gflop = training_gflop(model, batch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(steps + WARMUP):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    ms = sorted(times)[len(times) // 2] * 1e3
    return {"impl": "pytorch", "torch": torch.__version__, "model": name, "batch": batch,
            # burn's num_params counts batch norm's running mean and variance too
            "params": sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers() if b.is_floating_point()),
            "threads": torch.get_num_threads(),
            "steps": steps, "step_ms": round(ms, 1), "img_per_s": round(batch / ms * 1e3, 1),
            "gflop_per_step": round(gflop, 2), "gflop_per_s": round(gflop / ms * 1e3, 1),
            "peak_rss_mib": peak_rss_mib()}


HEADLINE = [("convnet3-w128", 64), ("resnet20", 64)]
SCALE = [("convnet3-w32", 64), ("convnet3-w64", 64), ("convnet3-w128", 64), ("resnet20", 32), ("resnet20", 64),
         ("resnet20", 128), ("resnet56", 32), ("resnet56", 64), ("resnet56", 128)]
WARMUP = 3

if __name__ == "__main__":
    # the same thread count as distillery's side: RAYON_NUM_THREADS, else every core
    threads = int(os.environ.get("RAYON_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    steps = int(os.environ.get("BENCH_STEPS", 10))
    if len(sys.argv) == 4 and sys.argv[1] == "--row":
        print(json.dumps(bench(sys.argv[2], int(sys.argv[3]), steps)))
        sys.exit(0)
    rows = SCALE if "scale" in sys.argv[1:] else HEADLINE
    print(f"# torch {torch.__version__}, {threads} threads, {WARMUP} warm-up + {steps} timed steps per row (median), one process per row", file=sys.stderr)
    for name, batch in rows:
        # a process per row: its peak RSS is that row's alone
        out = subprocess.run([sys.executable, __file__, "--row", name, str(batch)], capture_output=True, text=True, check=True)
        print(out.stdout.strip(), flush=True)
