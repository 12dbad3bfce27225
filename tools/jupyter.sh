#!/usr/bin/env bash
# Installs JupyterLab and the evcxr Rust kernel (once) and opens the notebooks:
#   tools/jupyter.sh [JUPYTER LAB FLAGS...]     e.g. --no-browser --port 8890
# Everything goes into .venv-jupyter (Python) and ~/.cargo/bin (evcxr_jupyter); nothing needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo install --list | grep -q "^evcxr_jupyter v0.22.0"; then
  echo "installing the evcxr Jupyter kernel 0.22.0 (cargo install, a few minutes once)"
  cargo install evcxr_jupyter --version 0.22.0 --locked
fi
if [ ! -x .venv-jupyter/bin/jupyter-lab ]; then
  echo "installing JupyterLab into .venv-jupyter"
  python3 -m venv .venv-jupyter
  .venv-jupyter/bin/pip install --quiet "jupyterlab==4.*" "nbconvert==7.*" "jupyter_client==8.*" "nbformat==5.*"
fi
evcxr_jupyter --install >/dev/null   # registers the "Rust" kernel for this user
# the notebooks find their data through DISTILLERY_DATA or fetch it into data/ on first use
export EVCXR_TMPDIR=${EVCXR_TMPDIR:-$(pwd)/target/evcxr-kernel}
mkdir -p "$EVCXR_TMPDIR"
echo "kernel: Rust (evcxr 0.22.0); profile: ${DISTILLERY_PROFILE:-from the device (cpu here unless a GPU is found)}"
exec .venv-jupyter/bin/jupyter lab --notebook-dir=notebooks "$@"
