"""Writes the fixtures that pin distillery's Swin and weight import to PyTorch.

    python tools/swin_fixture.py tests/fixtures      (`just swin-fixture`; needs torch + torchvision)

- swin_tiny.safetensors / swin_tiny.pth: the state_dict of torchvision's own SwinTransformer (the
  class behind `swin_t`) in a tiny configuration, every tensor randomised (LayerNorms, biases and
  the relative-position tables too, so each one changes the logits);
- swin_tiny.json: the configuration, an input batch, the logits torchvision gives for it, the
  parameter count;
- swin_padded.json: the same network's logits for a non-square 30x22 batch whose token maps the
  window divides at no stage (torchvision pads them);
- resnet8_repdistiller.pth / .json: the same for a CIFAR ResNet-8 with RepDistiller's parameter
  names (conv1, bn1, layerK.J.{conv1,bn1,conv2,bn2,downsample.0/1}, fc), the names of the
  pretrained CIFAR-100 teachers people reuse; wrn10_1_repdistiller.*: a WRN-10-1 with its WRN
  names (conv1, blockK.layer.J.{bn1,conv1,bn2,conv2,convShortcut}, bn1, fc).
The 28-px input with patch 2 and window 7 gives 14x14 (shifted windows), 7x7 (one window, no
shift), 4x4 (odd 7x7 map padded before merging, map padded to one window) and 2x2 token maps.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from torchvision.models.swin_transformer import SwinTransformer

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)


def randomise(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.2) + (1.0 if name.endswith("norm.weight") or ".norm1.weight" in name or ".norm2.weight" in name or name.endswith("0.2.weight") else 0.0))
        for name, b in model.named_buffers():
            if "running_mean" in name:
                b.copy_(torch.randn_like(b) * 0.1)
            elif "running_var" in name:
                b.copy_(torch.rand_like(b) + 0.5)


def count(model):
    return sum(p.numel() for p in model.parameters())


# --- Swin ---------------------------------------------------------------------------------------
cfg = dict(patch=2, window=7, embed=4, depths=[2, 2, 2, 2], heads=[1, 2, 2, 4], mlp_ratio=4.0, in_channels=1, classes=5, image=28)
swin = SwinTransformer(patch_size=[cfg["patch"]] * 2, embed_dim=cfg["embed"], depths=cfg["depths"], num_heads=cfg["heads"],
                       window_size=[cfg["window"]] * 2, mlp_ratio=cfg["mlp_ratio"], stochastic_depth_prob=0.0, num_classes=cfg["classes"])
# torchvision's stem is RGB; the fixture uses Fashion-MNIST's single channel
swin.features[0][0] = nn.Conv2d(cfg["in_channels"], cfg["embed"], kernel_size=cfg["patch"], stride=cfg["patch"])
randomise(swin)
swin.eval()
x = torch.randn(2, cfg["in_channels"], cfg["image"], cfg["image"])
with torch.no_grad():
    logits = swin(x)
state = {k: v.contiguous() for k, v in swin.state_dict().items()}
# the buffers torchvision recomputes are left out of the .safetensors (as many published copies do)
save_file({k: v for k, v in state.items() if "relative_position_index" not in k}, os.path.join(out, "swin_tiny.safetensors"))
torch.save(state, os.path.join(out, "swin_tiny.pth"))
with open(os.path.join(out, "swin_tiny.json"), "w") as f:
    json.dump({"config": cfg, "input_shape": list(x.shape), "input": x.flatten().tolist(), "logits": logits.flatten().tolist(),
               "params": count(swin), "torch": torch.__version__}, f)

# the same network on a non-square image whose token maps the window divides at no stage:
# 30x22 px / patch 2 = 15x11 (padded to 21x14, shifted windows with the padded mask), 8x6
# (padded to 14x7, shifted along the height only), 4x3 (one padded window), 2x2; drawn from its own
# generator so that the fixtures below stay what they were
padded = torch.randn(2, cfg["in_channels"], 30, 22, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    padded_logits = swin(padded)
with open(os.path.join(out, "swin_padded.json"), "w") as f:
    json.dump({"config": cfg, "input_shape": list(padded.shape), "input": padded.flatten().tolist(), "logits": padded_logits.flatten().tolist(),
               "params": count(swin), "weights": "swin_tiny.safetensors", "torch": torch.__version__}, f)


# --- ResNet-8 with RepDistiller's names ---------------------------------------------------------
class Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet8(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(Block(16, 16, 1))
        self.layer2 = nn.Sequential(Block(16, 32, 2))
        self.layer3 = nn.Sequential(Block(32, 64, 2))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def save_cifar_fixture(model, name):
    """Randomises `model`, runs a 2×3×16×16 batch and writes NAME.pth + NAME.json."""
    randomise(model)
    model.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        logits = model(x)
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, name + ".pth"))
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"input_shape": list(x.shape), "input": x.flatten().tolist(), "logits": logits.flatten().tolist(), "params": count(model)}, f)


save_cifar_fixture(ResNet8(10), "resnet8_repdistiller")


# --- WRN-10-1 with RepDistiller's names -----------------------------------------------------------
class WideBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.equal = c_in == c_out
        self.convShortcut = None if self.equal else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + (x if self.equal else self.convShortcut(pre))


class Group(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.layer = nn.Sequential(*blocks)

    def forward(self, x):
        return self.layer(x)


class Wrn10x1(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.block1 = Group([WideBlock(16, 16, 1)])
        self.block2 = Group([WideBlock(16, 32, 2)])
        self.block3 = Group([WideBlock(32, 64, 2)])
        self.bn1 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        x = F.relu(self.bn1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


save_cifar_fixture(Wrn10x1(10), "wrn10_1_repdistiller")
print("wrote", sorted(os.listdir(out)))
