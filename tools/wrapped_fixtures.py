"""Writes the RepDistiller ResNet-8 fixture in the layouts real checkpoints come in, from
tests/fixtures/resnet8_repdistiller.pth (a bare state dict):
  resnet8_wrapped_model.pth       {'model': state_dict, 'epoch', 'accuracy', 'optimizer'} (RepDistiller's train_teacher.py)
  resnet8_wrapped_module.pth      every key prefixed `module.` (nn.DataParallel)
  resnet8_wrapped_state_dict.pth  {'state_dict': {'module.' + key: ...}} (DataParallel inside a dict)
Saved in the legacy (pre-1.6, non-zip) format, as the released RepDistiller teachers are.
Usage: python tools/wrapped_fixtures.py tests/fixtures"""
import os
import sys

import torch

out = sys.argv[1]
sd = torch.load(os.path.join(out, "resnet8_repdistiller.pth"), weights_only=True)
first = next(iter(sd.values()))
optimizer = {"state": {0: {"momentum_buffer": torch.zeros_like(first)}}, "param_groups": [{"lr": 0.05, "momentum": 0.9, "params": [0]}]}
torch.save({"epoch": 240, "model": sd, "accuracy": 71.5, "optimizer": optimizer}, os.path.join(out, "resnet8_wrapped_model.pth"), _use_new_zipfile_serialization=False)
torch.save({"module." + k: v for k, v in sd.items()}, os.path.join(out, "resnet8_wrapped_module.pth"), _use_new_zipfile_serialization=False)
torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 10}, os.path.join(out, "resnet8_wrapped_state_dict.pth"), _use_new_zipfile_serialization=False)
print("wrote resnet8_wrapped_{model,module,state_dict}.pth")
