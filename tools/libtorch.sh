#!/usr/bin/env bash
# Prepare a libtorch 2.11 folder for distillery's `tch` feature from PyPI wheels (no root).
#   tools/libtorch.sh DEST          CPU-only subset (~500 MB): headers, libtorch_cpu, libc10, libgomp,
#                                   plus libcudart/libcupti 13 (libtorch_cpu links them) and an empty
#                                   libtorch.so stub (tch links -ltorch; the real one needs CUDA libs).
#   tools/libtorch.sh DEST --cuda   the whole torch wheel's lib/ (GPU machines; CUDA 13 driver and the
#                                   nvidia-* runtime wheels, e.g. from `pip install torch==2.11.0`).
# Then: export LIBTORCH=DEST LIBTORCH_BYPASS_VERSION_CHECK=1 LD_LIBRARY_PATH=DEST/lib
set -euo pipefail
dest=${1:?usage: tools/libtorch.sh DEST [--cuda]}
mode=${2:-cpu}
wheels="$dest.wheels"
mkdir -p "$wheels" "$dest/lib"
python3 -m pip download --quiet --no-deps -d "$wheels" --only-binary=:all: torch==2.11.0 \
  'nvidia-cuda-runtime==13.0.96.*' 'nvidia-cuda-cupti==13.0.85.*'
python3 - "$wheels" "$dest" "$mode" <<'PY'
import glob, os, shutil, sys, zipfile
wheels, dest, mode = sys.argv[1:]
torch = zipfile.ZipFile(glob.glob(os.path.join(wheels, "torch-2.11.0-*.whl"))[0])
def extract(z, member, out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with z.open(member) as s, open(out, "wb") as d:
        shutil.copyfileobj(s, d)
for name in torch.namelist():
    if name.endswith("/"):
        continue
    if name.startswith("torch/include/"):
        extract(torch, name, os.path.join(dest, "include", name[len("torch/include/"):]))
    elif name.startswith("torch/lib/"):
        lib = os.path.basename(name)
        if mode == "--cuda" or lib in ("libtorch_cpu.so", "libc10.so", "libgomp.so.1"):
            extract(torch, name, os.path.join(dest, "lib", lib))
for pattern, lib in [("nvidia_cuda_runtime-13*.whl", "nvidia/cu13/lib/libcudart.so.13"),
                     ("nvidia_cuda_cupti-13*.whl", "nvidia/cu13/lib/libcupti.so.13")]:
    extract(zipfile.ZipFile(glob.glob(os.path.join(wheels, pattern))[0]), lib, os.path.join(dest, "lib", os.path.basename(lib)))
PY
chmod +x "$dest"/lib/*.so*
if [ "$mode" != "--cuda" ]; then
  cc -shared -fPIC -o "$dest/lib/libtorch.so" -x c /dev/null
fi
echo 2.11.0 > "$dest/build-version"
rm -rf "$wheels"
echo "export LIBTORCH=$(cd "$dest" && pwd) LIBTORCH_BYPASS_VERSION_CHECK=1 LD_LIBRARY_PATH=$(cd "$dest" && pwd)/lib"
