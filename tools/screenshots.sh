#!/usr/bin/env bash
# Screenshots of committed notebooks as a newcomer first meets them: open untrusted in JupyterLab
# (a fresh Jupyter profile, so nothing is trusted) and as nbconvert's HTML export, both in
# headless Chromium. Needs `chromium` (apt) and JupyterLab (installed into .venv-jupyter).
#   tools/screenshots.sh notebooks/00-quickstart.ipynb [...]   → target/screenshots/*.png
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "needs chromium (apt-get install chromium)"; exit 1; }
if [ ! -x .venv-jupyter/bin/jupyter-lab ]; then
  python3 -m venv .venv-jupyter
  .venv-jupyter/bin/pip install --quiet "jupyterlab==4.*" "nbconvert==7.*" "jupyter_client==8.*" "nbformat==5.*" ipykernel
fi
out=$(pwd)/target/screenshots
work=$(mktemp -d)
mkdir -p "$out" "$work/nb" "$work/data/kernels/rust" "$work/config" "$work/runtime" "$work/config/lab/user-settings/@jupyterlab/notebook-extension"
# a "Rust" kernelspec that starts nothing useful: only the saved outputs are looked at, and
# JupyterLab opens the notebook without a missing-kernel dialog
printf '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Rust", "language": "rust"}' "$(pwd)/.venv-jupyter/bin/python" > "$work/data/kernels/rust/kernel.json"
# every cell rendered (not only the visible ones), so a tall window shows the figures
echo '{"windowingMode": "none"}' > "$work/config/lab/user-settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
cp "$@" "$work/nb/"
export JUPYTER_DATA_DIR=$work/data JUPYTER_CONFIG_DIR=$work/config JUPYTER_RUNTIME_DIR=$work/runtime
.venv-jupyter/bin/jupyter lab --no-browser --port 8899 --notebook-dir="$work/nb" --IdentityProvider.token='' \
  --ServerApp.password='' --ServerApp.disable_check_xsrf=True --LabApp.user_settings_dir="$work/config/lab/user-settings" \
  --allow-root > "$work/lab.log" 2>&1 &
lab=$!
trap 'kill $lab 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 30); do curl -sf localhost:8899/api >/dev/null && break; sleep 1; done
shoot() { timeout 180 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,6000 --virtual-time-budget=30000 --screenshot="$1" "$2" 2>/dev/null; }
for nb in "$@"; do
  name=$(basename "$nb" .ipynb)
  shoot "$out/$name-jupyterlab-untrusted.png" "http://127.0.0.1:8899/lab/tree/$name.ipynb"
  .venv-jupyter/bin/jupyter nbconvert --to html --output-dir "$work" "$work/nb/$name.ipynb" >/dev/null 2>&1
  shoot "$out/$name-html-export.png" "file://$work/$name.html"
  echo "$out/$name-jupyterlab-untrusted.png, $out/$name-html-export.png"
done
