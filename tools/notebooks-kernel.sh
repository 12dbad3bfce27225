#!/usr/bin/env bash
# Executes every notebook under the real Jupyter kernel (evcxr_jupyter), smoke profile by default,
# and fails on any cell error, panic or stderr output (evcxr reports an `Err` from `?` on stderr).
#   tools/notebooks-kernel.sh [NOTEBOOK...]
set -euo pipefail
cd "$(dirname "$0")/.."
export DISTILLERY_PROFILE=${DISTILLERY_PROFILE:-smoke}
# the same real data the tests use: fetch when neither DISTILLERY_DATA nor ../shared has it
if [ -z "${DISTILLERY_DATA:-}" ]; then
  if [ -d ../shared/datasets/mnist ]; then export DISTILLERY_DATA=$(cd ../shared/datasets && pwd)
  else tools/fetch-data.sh data >/dev/null; export DISTILLERY_DATA=$(pwd)/data; fi
fi
# 1. the kernel, pinned
if ! cargo install --list | grep -q "^evcxr_jupyter v0.22.0"; then
  cargo install evcxr_jupyter --version 0.22.0 --locked
fi
# 2. Jupyter in a venv
if [ ! -x .venv-jupyter/bin/jupyter ]; then
  python3 -m venv .venv-jupyter
  .venv-jupyter/bin/pip install --quiet "nbconvert==7.*" "jupyter_client==8.*" "nbformat==5.*"
fi
# 3. register the kernel (writes ~/.local/share/jupyter/kernels/rust)
evcxr_jupyter --install >/dev/null
# 4. execute; one persistent evcxr build folder so notebooks after the first reuse the build
export EVCXR_TMPDIR=$(pwd)/target/evcxr-kernel
mkdir -p "$EVCXR_TMPDIR" target/notebooks-kernel
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=(notebooks/*.ipynb)
for nb in "${notebooks[@]}"; do
  start=$(date +%s)
  .venv-jupyter/bin/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=rust \
    --ExecutePreprocessor.timeout=3600 --output-dir target/notebooks-kernel "$nb"
  .venv-jupyter/bin/python - "target/notebooks-kernel/$(basename "$nb")" <<'PY'
import json, sys
nb = json.load(open(sys.argv[1]))
figures, bad = 0, []
for i, cell in enumerate(nb["cells"]):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" or out.get("name") == "stderr":
            bad.append((i, "".join(out.get("text", out.get("traceback", [])))))
        data = out.get("data", {})
        if "<svg" in "".join(data.get("text/html", [])):
            bad.append((i, "a figure inside text/html (untrusted JupyterLab and code hosts strip it)"))
        if "image/png" in data:
            figures += 1
if bad:
    sys.exit("\n".join(f"{sys.argv[1]}, cell {i}: {msg}" for i, msg in bad))
if figures == 0:
    sys.exit(f"{sys.argv[1]}: no figure (image/png output)")
print(f"{sys.argv[1]}: ok, {figures} figure outputs")
PY
  echo "$nb: $(( $(date +%s) - start ))s under the real kernel"
done
