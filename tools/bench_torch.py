"""PyTorch reference for `benches/step.rs`: the same models, batch and step (forward + backward +
SGD momentum 0.9, wd 5e-4) on the CPU, median of timed steps. Writes JSON lines to stdout.

The architectures mirror distillery's: DC ConvNet-3 (width 128, GroupNorm(128, 128) as the
official code's instancenorm, avg-pool) and CIFAR ResNet-20 (BasicBlocks, 1x1-conv + BN
projection shortcuts).
"""
import json
import os
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


def bench(name, model, batch, steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    ms = sorted(times)[len(times) // 2] * 1e3
    print(json.dumps({"impl": "pytorch", "model": name, "batch": batch, "step_ms": round(ms, 1), "img_per_s": round(batch / ms * 1e3, 1)}))


if __name__ == "__main__":
    steps = int(os.environ.get("BENCH_STEPS", 10))
    batch = int(os.environ.get("BENCH_BATCH", 64))
    torch.manual_seed(0)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads", file=sys.stderr)
    bench("convnet3", convnet(), batch, steps)
    bench("resnet20", resnet(), batch, steps)
