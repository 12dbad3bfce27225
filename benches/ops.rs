//! Where a training step's time goes, op by op, beside PyTorch: each layer kind of ConvNet-3 w128
//! and ResNet-20 at batch 64 on 3×32×32, timed alone at the shapes the step runs it (forward;
//! forward + backward with only the input or only the weight tracked, so the two gradients are
//! timed apart), multiplied by how often the step runs it. `tools/bench_ops_torch.py` times the
//! same ops in PyTorch (`just bench` runs it first, writing `target/bench/torch-ops.json`).
//! Alone: `cargo bench --bench ops`. Env: `BENCH_STEPS` (timed repeats after 2 warm-up, default 10).
//!
//! Stack sampling cannot give this breakdown on flex: most of the work runs on rayon's worker
//! threads, whose stacks do not show which op started it (docs/performance.md).
mod common;
use burn::module::Param;
use burn::nn::BatchNormConfig;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{activation::relu, Distribution, Tensor};
use distillery::device::{Device, DeviceExt};
use distillery::ops::norm::{instance_norm, Tail};
use distillery::train::devices;
use std::time::Instant;

/// One op at one shape, and how many times a step of its model runs it.
struct Op {
    model: &'static str,
    kind: Kind,
    /// [batch, channels in, height, width]
    input: [usize; 4],
    /// channels out (conv), 0 otherwise
    out: usize,
    stride: usize,
    count: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Conv3x3,
    /// The ConvNet block after its conv: instance norm → ReLU → AvgPool 2 (one fused op on flex).
    NormReluPool,
    BatchNorm,
    /// Batch norm then ReLU (`ConvBn::forward_relu`; one fused op on flex).
    BatchNormRelu,
    Relu,
}

impl Kind {
    /// The kind's name in `tools/bench_ops_torch.py`'s keys.
    fn key(self) -> &'static str {
        match self {
            Kind::Conv3x3 => "conv",
            Kind::NormReluPool => "inorm-relu-pool",
            Kind::BatchNorm => "bnorm",
            Kind::BatchNormRelu => "bnorm-relu",
            Kind::Relu => "relu",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Conv3x3 => "conv 3×3",
            Kind::NormReluPool => "instance norm + relu + pool",
            Kind::BatchNorm => "batch norm",
            Kind::BatchNormRelu => "batch norm + relu",
            Kind::Relu => "relu",
        }
    }
}

/// The ops of the two step-bench models (the 1×1 shortcut convs, the classifier and the loss are
/// left out: together under 3 % of either step's multiply-adds).
fn ops() -> Vec<Op> {
    let b = 64;
    let mut ops = Vec::new();
    for (c_in, c, hw) in [(3, 128, 32), (128, 128, 16), (128, 128, 8)] {
        ops.push(Op { model: "convnet3-w128", kind: Kind::Conv3x3, input: [b, c_in, hw, hw], out: c, stride: 1, count: 1 });
        ops.push(Op { model: "convnet3-w128", kind: Kind::NormReluPool, input: [b, c, hw, hw], out: 0, stride: 1, count: 1 });
    }
    // ResNet-20: the stem conv, then per stage six 3×3 convs (the first of stages 2 and 3 with
    // stride 2); a batch norm after every conv (the stem's and the shortcuts' too: 7 per stage)
    // and two relus per block (3 blocks a stage; the stem's relu counted in stage 1)
    ops.push(Op { model: "resnet20", kind: Kind::Conv3x3, input: [b, 3, 32, 32], out: 16, stride: 1, count: 1 });
    for (stage, (c, hw)) in [(16, 32), (32, 16), (64, 8)].into_iter().enumerate() {
        let strided = stage > 0;
        if strided {
            ops.push(Op { model: "resnet20", kind: Kind::Conv3x3, input: [b, c / 2, hw * 2, hw * 2], out: c, stride: 2, count: 1 });
        }
        ops.push(Op { model: "resnet20", kind: Kind::Conv3x3, input: [b, c, hw, hw], out: c, stride: 1, count: if strided { 5 } else { 6 } });
        // each block: conv → BN → ReLU, conv → BN, + shortcut (a 1×1 conv + BN where strided),
        // ReLU; the stem's conv → BN → ReLU counted in stage 1
        let (with_relu, alone) = if strided { (3, 4) } else { (4, 3) };
        ops.push(Op { model: "resnet20", kind: Kind::BatchNormRelu, input: [b, c, hw, hw], out: 0, stride: 1, count: with_relu });
        ops.push(Op { model: "resnet20", kind: Kind::BatchNorm, input: [b, c, hw, hw], out: 0, stride: 1, count: alone });
        ops.push(Op { model: "resnet20", kind: Kind::Relu, input: [b, c, hw, hw], out: 0, stride: 1, count: 3 });
    }
    ops
}

/// A training-mode `BatchNorm` layer with this (γ, β), run as `ConvBn` runs it.
fn batch_norm(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, relu: bool) -> Tensor<4> {
    let mut bn = BatchNormConfig::new(gamma.dims()[0]).init(&x.device());
    (bn.gamma, bn.beta) = (Param::from_tensor(gamma), Param::from_tensor(beta));
    distillery::ops::norm::batch_norm(&bn, x, relu)
}

/// (model, op kind, our [forward, input grad, weight grad] ms, PyTorch's when known)
type Row = (&'static str, &'static str, [f64; 3], Option<[f64; 3]>);

/// Median ms of `f` over `steps` runs after 2 warm-up runs.
fn time(steps: usize, mut f: impl FnMut() -> f32) -> f64 {
    let mut times = Vec::new();
    for i in 0..steps + 2 {
        let t0 = Instant::now();
        std::hint::black_box(f());
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    common::median(times)
}

/// (forward ms, input-gradient ms, weight-gradient ms) of one op; the gradients are each the
/// forward + backward time with only that operand tracked, less a forward that records the graph.
fn measure(op: &Op, steps: usize, ad: &Device) -> (f64, f64, f64) {
    let [n, c, h, w] = op.input;
    let x: Tensor<4> = Tensor::random([n, c, h, w], Distribution::Normal(0.0, 1.0), ad);
    let channels = if op.kind == Kind::Conv3x3 { op.out } else { c };
    let weight: Tensor<4> = Tensor::random([op.out.max(1), c, 3, 3], Distribution::Normal(0.0, 0.1), ad);
    let gamma: Tensor<1> = Tensor::ones([channels], ad);
    let beta: Tensor<1> = Tensor::zeros([channels], ad);
    let stride = op.stride;
    let run = |x: Tensor<4>, weight: Tensor<4>, gamma: Tensor<1>| -> Tensor<4> {
        match op.kind {
            Kind::Conv3x3 => distillery::ops::conv::conv2d(x, weight, None, ConvOptions::new([stride, stride], [1, 1], [1, 1], 1)),
            Kind::NormReluPool => instance_norm(x, gamma, beta.clone(), 1e-5, Tail::RELU_POOL),
            Kind::BatchNorm => batch_norm(x, gamma, beta.clone(), false),
            Kind::BatchNormRelu => batch_norm(x, gamma, beta.clone(), true),
            Kind::Relu => relu(x),
        }
    };
    let forward = time(steps, || run(x.clone(), weight.clone(), gamma.clone()).sum().into_scalar::<f32>());
    // the gradients are measured against the forward that records the graph
    let recorded = time(steps, || run(x.clone().require_grad(), weight.clone(), gamma.clone()).sum().into_scalar::<f32>());
    let with_x = time(steps, || {
        let xt = x.clone().require_grad();
        let grads = run(xt.clone(), weight.clone(), gamma.clone()).sum().backward();
        xt.grad(&grads).unwrap().sum().into_scalar::<f32>()
    });
    let weighted = matches!(op.kind, Kind::Conv3x3 | Kind::NormReluPool | Kind::BatchNorm | Kind::BatchNormRelu);
    let with_w = if weighted {
        time(steps, || {
            let (wt, gt) = (weight.clone().require_grad(), gamma.clone().require_grad());
            let grads = run(x.clone(), wt.clone(), gt.clone()).sum().backward();
            let g = if op.kind == Kind::Conv3x3 { wt.grad(&grads).unwrap().sum() } else { gt.grad(&grads).unwrap().sum() };
            g.into_scalar::<f32>()
        })
    } else {
        recorded
    };
    (forward, (with_x - recorded).max(0.0), (with_w - recorded).max(0.0))
}

fn main() {
    let steps = common::steps();
    let device = Device::auto_quiet();
    let (_, ad) = devices(&device);
    eprintln!("# {}: each op alone, 2 warm-up + {steps} timed runs (median)", device.describe());
    let torch = common::torch_rows("torch-ops.json");
    let mut rows: Vec<Row> = Vec::new();
    for op in ops() {
        let (f, gx, gw) = measure(&op, steps, &ad);
        let k = op.count as f64;
        let key = format!("{} {:?}/{}/{}", op.kind.key(), op.input, op.out, op.stride);
        let theirs = torch.iter().find(|t| t["key"] == key.as_str()).map(|t| [t["fwd"].as_f64().unwrap() * k, t["dx"].as_f64().unwrap() * k, t["dw"].as_f64().unwrap() * k]);
        eprintln!("{} {} {key} ×{}: forward {f:.2} ms, input grad {gx:.2}, weight grad {gw:.2}", op.model, op.kind.name(), op.count);
        let parts = [f * k, gx * k, gw * k];
        match rows.iter_mut().find(|r| r.0 == op.model && r.1 == op.kind.name()) {
            Some(r) => {
                (0..3).for_each(|i| r.2[i] += parts[i]);
                if let (Some(a), Some(b)) = (r.3.as_mut(), theirs) {
                    (0..3).for_each(|i| a[i] += b[i]);
                }
            }
            None => rows.push((op.model, op.kind.name(), parts, theirs)),
        }
    }
    println!("\n| model | op | forward ms | input grad ms | weight grad ms | total ms | PyTorch total ms | ratio |\n|---|---|---:|---:|---:|---:|---:|---:|");
    for (model, kind, [f, gx, gw], theirs) in rows {
        let total = f + gx + gw;
        let (t, r) = match theirs {
            Some(t) => {
                let tt: f64 = t.iter().sum();
                (format!("{tt:.1} ({:.1} / {:.1} / {:.1})", t[0], t[1], t[2]), format!("{:.2}×", total / tt))
            }
            None => ("–".into(), "–".into()),
        };
        println!("| {model} | {kind} | {f:.1} | {gx:.1} | {gw:.1} | {total:.1} | {t} | {r} |");
    }
}
