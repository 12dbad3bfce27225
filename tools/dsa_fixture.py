"""Writes tests/fixtures/dsa_grad.json: the exact gradient of DC's gradient-matching loss with
respect to the synthetic images, by PyTorch's double backward (create_graph=True), for a fixed
ConvNet-3 (width 8, 28x28 grey input, instance norm = GroupNorm(C, C)), fixed real and
synthetic images and a fixed siamese augmentation. `tests/dsa_fixture.rs` checks distillery's
frozen-ReLU finite-difference result against it. Run with `just dsa-fixture`.

Written for this project from the equations in the DC/DSA papers (distance: official
`match_loss`/`distance_wb`); float64 throughout so the reference is exact to ~1e-12.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(0)
DT = torch.float64
WIDTH, DEPTH, CLASSES, H = 8, 3, 3, 28
N_REAL, N_SYN = 6, 2


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=DT) * scale)


convs = [rnd(WIDTH, 1 if d == 0 else WIDTH, 3, 3, scale=0.4) for d in range(DEPTH)]
conv_b = [rnd(WIDTH, scale=0.1) for _ in range(DEPTH)]
gammas = [1.0 + rnd(WIDTH, scale=0.1) for _ in range(DEPTH)]
betas = [rnd(WIDTH, scale=0.1) for _ in range(DEPTH)]
fc_w = rnd(CLASSES, WIDTH * 4 * 4, scale=0.1)  # PyTorch layout [out, in]
fc_b = rnd(CLASSES, scale=0.1)
params = convs + [fc_w]  # the matched (>= 2-D) weights; 1-D parameters contribute 0


def forward(x, weights):
    for d in range(DEPTH):
        pad = 3 if d == 0 else 1
        x = F.conv2d(x, weights[d], conv_b[d], padding=pad)
        x = F.group_norm(x, WIDTH, gammas[d], betas[d], eps=1e-5)
        x = F.avg_pool2d(F.relu(x), 2)
    return F.linear(x.flatten(1), weights[DEPTH], fc_b)


def augment(x, case):
    if case["family"] == "none":
        return x
    if case["family"] == "rotate":
        t = case["theta"]
        theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]], dtype=DT)
    elif case["family"] == "scale":
        theta = torch.tensor([[case["sx"], 0.0, 0.0], [0.0, case["sy"], 0.0]], dtype=DT)
    theta = theta.unsqueeze(0).expand(x.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, align_corners=True)


def distance(gs, gr):
    total = 0.0
    for a, b in zip(gs, gr):
        a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
        total = total + torch.sum(1 - torch.sum(a * b, -1) / (a.norm(dim=-1) * b.norm(dim=-1) + 1e-6))
    return total


def smooth_images(n):
    # smooth random blobs, roughly the statistics of normalised digits
    x = F.avg_pool2d(rnd(n, 1, H + 6, H + 6), 7, stride=1) * 4.0
    return x


real = [smooth_images(N_REAL) for _ in range(CLASSES)]
syn0 = smooth_images(CLASSES * N_SYN)
cases = [{"family": "none"}, {"family": "rotate", "theta": 0.2}, {"family": "scale", "sx": 1.15, "sy": 0.9}]
out_cases = []
for case in cases:
    syn = syn0.clone().requires_grad_(True)
    loss = 0.0
    for c in range(CLASSES):
        w = [p.clone().requires_grad_(True) for p in params]
        y = torch.full((N_REAL,), c, dtype=torch.long)
        gr = torch.autograd.grad(F.cross_entropy(forward(augment(real[c], case), w), y), w)
        gr = [g.detach() for g in gr]
        ys = torch.full((N_SYN,), c, dtype=torch.long)
        gs = torch.autograd.grad(F.cross_entropy(forward(augment(syn[c * N_SYN:(c + 1) * N_SYN], case), w), ys), w, create_graph=True)
        loss = loss + distance(gs, gr)
    (grad,) = torch.autograd.grad(loss, syn)
    out_cases.append({"augment": case, "distance": loss.item(), "grad": grad.flatten().tolist()})


def flat(t):
    return t.detach().flatten().tolist()


fixture = {
    "about": "tools/dsa_fixture.py (PyTorch %s, float64 double backward)" % torch.__version__,
    "width": WIDTH, "depth": DEPTH, "classes": CLASSES, "hw": H, "n_real": N_REAL, "n_syn": N_SYN,
    "convs": [flat(w) for w in convs], "conv_bias": [flat(b) for b in conv_b],
    "gammas": [flat(g) for g in gammas], "betas": [flat(b) for b in betas],
    "fc_in_out": flat(fc_w.t()), "fc_bias": flat(fc_b),
    "real": [flat(r) for r in real], "syn": flat(syn0),
    "cases": out_cases,
}
json.dump(fixture, open(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/dsa_grad.json", "w"))
