//! distillery's own backend ops (`src/ops`) against burn's reference ops: the same forward, and
//! the same gradients for every operand, at the shapes our models use and at the edges
//! (stride 2, padding 0 and 3, 1×1 kernels, a batch split into several column chunks; odd maps
//! under pooling, ReLU gates both open and shut).
mod common;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor};
use common::cpu;
use distillery::device::DeviceExt;
use distillery::ops::conv;
use distillery::ops::norm::{self, Tail};
use distillery::train::devices;

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

fn max_abs<const D: usize>(a: Tensor<D>) -> f32 {
    a.abs().max().into_scalar::<f32>()
}

/// (batch, c_in, size, c_out, kernel, stride, padding)
const CASES: [(usize, usize, usize, usize, usize, usize, usize); 6] = [
    (8, 3, 32, 32, 3, 1, 1),   // a first layer
    (32, 64, 32, 64, 3, 1, 1), // several column chunks (64·9·1024 floats per image)
    (4, 16, 15, 32, 3, 2, 1),  // stride 2 on an odd map
    (4, 8, 12, 40, 1, 2, 0),   // a 1×1 projection shortcut
    (2, 1, 28, 32, 3, 1, 3),   // the DC ConvNet's first layer on 28×28
    (3, 5, 9, 33, 3, 1, 0),    // no padding
];

#[test]
fn conv2d_matches_burn_forward_and_every_gradient() {
    let (_, ad) = devices(&cpu());
    for (n, c, size, o, k, stride, pad) in CASES {
        let x: Tensor<4> = Tensor::random([n, c, size, size], Distribution::Normal(0.0, 1.0), &ad);
        let w: Tensor<4> = Tensor::random([o, c, k, k], Distribution::Normal(0.0, 0.2), &ad);
        let b: Tensor<1> = Tensor::random([o], Distribution::Normal(0.0, 0.2), &ad);
        let options = ConvOptions::new([stride, stride], [pad, pad], [1, 1], 1);
        let run = |ours: bool| {
            let (x, w, b) = (x.clone().require_grad(), w.clone().require_grad(), b.clone().require_grad());
            let y = if ours { conv::conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone()) } else { burn::tensor::module::conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone()) };
            // a non-uniform upstream gradient
            let r = y.clone().detach().sin();
            let grads = (y.clone() * r).sum().backward();
            (y.detach(), x.grad(&grads).unwrap(), w.grad(&grads).unwrap(), b.grad(&grads).unwrap())
        };
        let case = format!("n {n} c {c} size {size} o {o} k {k} stride {stride} pad {pad}");
        if cpu().describe().starts_with("flex") {
            assert!(conv::uses_gemm_path(&x, &w), "{case}: the flex path was not taken");
        }
        let (y0, gx0, gw0, gb0) = run(false);
        let (y1, gx1, gw1, gb1) = run(true);
        let tol = |reference: f32| 1e-4 * reference.max(1.0);
        assert!(max_abs_diff(y1, y0.clone()) <= tol(max_abs(y0)), "{case}: forward differs");
        assert!(max_abs_diff(gx1, gx0.clone()) <= tol(max_abs(gx0)), "{case}: input gradient differs");
        let (gw_diff, gw_ref) = (max_abs_diff(gw1, gw0.clone()), max_abs(gw0));
        assert!(gw_diff <= tol(gw_ref), "{case}: weight gradient differs by {gw_diff} (largest {gw_ref})");
        assert!(max_abs_diff(gb1, gb0.clone()) <= tol(max_abs(gb0)), "{case}: bias gradient differs");
    }
}

/// Maps one or two pixels wide or high (ResNet-18's layer 4 on 8-px images, a CIFAR ResNet on
/// 4-px ones), non-square maps, 3×3 stride 2 without padding, 1×1 with padding: the custom conv
/// panicked on the stride-1 path where a kernel column reads no pixel.
#[test]
fn conv2d_matches_burn_on_maps_one_or_two_pixels_wide() {
    let (_, ad) = devices(&cpu());
    // (batch, c_in, h, w, c_out, kernel, stride, padding)
    for (n, c, h, w, o, k, s, p) in [(2, 3, 1, 1, 4, 3, 1, 1), (2, 3, 2, 2, 4, 3, 1, 1), (2, 3, 1, 5, 4, 3, 1, 1), (2, 3, 5, 1, 4, 3, 1, 1), (2, 3, 2, 7, 4, 3, 1, 3), (2, 3, 1, 1, 4, 3, 1, 3), (2, 3, 5, 4, 4, 3, 2, 0), (2, 3, 3, 2, 4, 1, 1, 1), (1, 4, 1, 2, 3, 3, 2, 1)] {
        let x: Tensor<4> = Tensor::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &ad);
        let wt: Tensor<4> = Tensor::random([o, c, k, k], Distribution::Normal(0.0, 0.2), &ad);
        let options = ConvOptions::new([s, s], [p, p], [1, 1], 1);
        let run = |ours: bool| {
            let (x, wt) = (x.clone().require_grad(), wt.clone().require_grad());
            let y = if ours { conv::conv2d(x.clone(), wt.clone(), None, options.clone()) } else { burn::tensor::module::conv2d(x.clone(), wt.clone(), None, options.clone()) };
            let grads = (y.clone() * y.clone().detach().cos()).sum().backward();
            (y.detach(), x.grad(&grads).unwrap(), wt.grad(&grads).unwrap())
        };
        let case = format!("{n}×{c}×{h}×{w} → {o}, k {k} s {s} p {p}");
        let ((y0, gx0, gw0), (y1, gx1, gw1)) = (run(false), run(true));
        assert_eq!(y1.dims(), y0.dims(), "{case}");
        assert_close(&case, [("forward", compare(y1, y0)), ("input gradient", compare(gx1, gx0)), ("weight gradient", compare(gw1, gw0))]);
    }
}

#[test]
fn without_autodiff_conv2d_matches_burns_op() {
    let (plain, _) = devices(&cpu());
    for (n, c, size, o, k, stride, pad) in CASES {
        let x: Tensor<4> = Tensor::random([n, c, size, size], Distribution::Normal(0.0, 1.0), &plain);
        let w: Tensor<4> = Tensor::random([o, c, k, k], Distribution::Normal(0.0, 0.2), &plain);
        // inference (evaluation) runs the gemm forward on flex too
        assert_eq!(conv::uses_gemm_path(&x, &w), cpu().describe().starts_with("flex"));
        let options = ConvOptions::new([stride, stride], [pad, pad], [1, 1], 1);
        let ours = conv::conv2d(x.clone(), w.clone(), None, options.clone());
        let burns = burn::tensor::module::conv2d(x, w, None, options);
        let reference = max_abs(burns.clone());
        assert!(max_abs_diff(ours, burns) <= 1e-4 * reference.max(1.0));
    }
}

#[test]
fn one_image_uses_the_products_threads() {
    // a batch smaller than the thread count takes the other parallel branch
    let (_, ad) = devices(&cpu());
    let x: Tensor<4> = Tensor::random([1, 8, 10, 10], Distribution::Normal(0.0, 1.0), &ad).require_grad();
    let w: Tensor<4> = Tensor::random([16, 8, 3, 3], Distribution::Normal(0.0, 0.2), &ad).require_grad();
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let reference = burn::tensor::module::conv2d(x.clone(), w.clone(), None, options.clone());
    let ours = conv::conv2d(x.clone(), w.clone(), None, options);
    let (g0, g1) = (reference.clone().sum().backward(), ours.clone().sum().backward());
    assert!(max_abs_diff(ours.detach(), reference.detach()) <= 1e-4);
    assert!(max_abs_diff(x.grad(&g1).unwrap(), x.grad(&g0).unwrap()) <= 1e-4);
    assert!(max_abs_diff(w.grad(&g1).unwrap(), w.grad(&g0).unwrap()) <= 1e-3);
}

/// (largest |ours − reference|, largest |reference|)
fn compare<const D: usize>(ours: Tensor<D>, reference: Tensor<D>) -> (f32, f32) {
    (max_abs_diff(ours, reference.clone()), max_abs(reference))
}

/// Every comparison within 2e-4 of its reference's scale (at least 1).
fn assert_close<const N: usize>(case: &str, comparisons: [(&str, (f32, f32)); N]) {
    for (what, (diff, reference)) in comparisons {
        assert!(diff <= 2e-4 * reference.max(1.0), "{case}: {what} differs by {diff} (largest {reference})");
    }
}

/// (batch, channels, height, width)
const NORM_CASES: [[usize; 4]; 4] = [
    [4, 8, 32, 32], // a ConvNet block's map
    [3, 5, 7, 9],   // odd sides: pooling drops the last row and column
    [2, 16, 2, 2],  // the smallest poolable map
    [1, 3, 1, 6],   // a single row (pooling gives an empty map)
];

#[test]
fn fused_instance_norm_matches_burns_ops_forward_and_every_gradient() {
    let (_, ad) = devices(&cpu());
    let tails = [Tail::NONE, Tail { relu: true, pool: false }, Tail { relu: false, pool: true }, Tail::RELU_POOL];
    for dims in NORM_CASES {
        for tail in tails {
            if tail.pool && dims[2] < 2 {
                continue;
            }
            let c = dims[1];
            let x: Tensor<4> = Tensor::random(dims, Distribution::Normal(0.5, 2.0), &ad);
            // γ of both signs and β off zero, so the ReLU shuts part of every plane
            let gamma: Tensor<1> = Tensor::random([c], Distribution::Normal(0.0, 1.0), &ad);
            let beta: Tensor<1> = Tensor::random([c], Distribution::Normal(0.0, 0.5), &ad);
            let run = |fused: bool| {
                let (x, g, b) = (x.clone().require_grad(), gamma.clone().require_grad(), beta.clone().require_grad());
                let y = if fused { norm::instance_norm(x.clone(), g.clone(), b.clone(), 1e-5, tail) } else { norm::composed(x.clone(), g.clone(), b.clone(), 1e-5, tail) };
                let r = y.clone().detach().mul_scalar(3.0).sin().add_scalar(0.1);
                let grads = (y.clone() * r).sum().backward();
                (y.detach(), x.grad(&grads).unwrap(), g.grad(&grads).unwrap(), b.grad(&grads).unwrap())
            };
            let case = format!("{dims:?} {tail:?}");
            if cpu().describe().starts_with("flex") {
                assert!(norm::is_fused(&x, &gamma, &beta), "{case}: the fused path was not taken");
            }
            let (y0, gx0, gg0, gb0) = run(false);
            let (y1, gx1, gg1, gb1) = run(true);
            assert_eq!(y1.dims(), y0.dims(), "{case}: output shape");
            assert_close(&case, [("forward", compare(y1, y0)), ("input gradient", compare(gx1, gx0)), ("gamma gradient", compare(gg1, gg0)), ("beta gradient", compare(gb1, gb0))]);
        }
    }
}

#[test]
fn without_autodiff_instance_norm_matches_burns_ops() {
    let (plain, _) = devices(&cpu());
    let x: Tensor<4> = Tensor::random([2, 4, 9, 8], Distribution::Normal(0.0, 1.0), &plain);
    let gamma: Tensor<1> = Tensor::random([4], Distribution::Normal(0.0, 1.0), &plain);
    let beta: Tensor<1> = Tensor::random([4], Distribution::Normal(0.0, 0.5), &plain);
    // inference (evaluation) runs the fused forward on flex too
    assert_eq!(norm::is_fused(&x, &gamma, &beta), cpu().describe().starts_with("flex"));
    let ours = norm::instance_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5, Tail::RELU_POOL);
    let burns = norm::composed(x, gamma, beta, 1e-5, Tail::RELU_POOL);
    assert_eq!(ours.dims(), [2, 4, 4, 4]);
    assert!(max_abs_diff(ours, burns) <= 1e-5);
}

/// The batch variance comes from the centred sums: with ε = 1 beside a variance of 1e-6,
/// recovering it as 1/σ̂² − ε in f32 was off by about 10 %.
#[test]
fn fused_batch_norm_keeps_a_small_variance_beside_a_large_epsilon() {
    use burn::nn::BatchNormConfig;
    let (_, ad) = devices(&cpu());
    let bn = BatchNormConfig::new(1).with_momentum(1.0).with_epsilon(1.0).init(&ad);
    // values 1 ± 0.001: biased variance 1e-6
    let values: Vec<f32> = (0..64).map(|i| if i % 2 == 0 { 1.001 } else { 0.999 }).collect();
    let x: Tensor<4> = Tensor::from_data(burn::tensor::TensorData::new(values, [4, 1, 4, 4]), &ad).require_grad();
    let _ = norm::batch_norm(&bn, x, false);
    let var = bn.running_var.value_sync().into_scalar::<f32>();
    assert!((var - 1e-6).abs() < 1e-8, "running variance {var}, want 1e-6");
}

#[test]
fn fused_batch_norm_matches_burns_module_forward_gradients_and_running_statistics() {
    use burn::nn::BatchNormConfig;
    let (_, ad) = devices(&cpu());
    for (dims, relu) in [([8, 16, 8, 8], true), ([8, 16, 8, 8], false), ([3, 5, 7, 9], true), ([2, 4, 1, 1], false)] {
        let c = dims[1];
        let gamma: Tensor<1> = Tensor::random([c], Distribution::Normal(0.0, 1.0), &ad);
        let beta: Tensor<1> = Tensor::random([c], Distribution::Normal(0.0, 0.5), &ad);
        // a fresh layer per run: clones share their running statistics
        let fresh = || {
            let mut bn = BatchNormConfig::new(c).with_momentum(0.3).init(&ad);
            bn.gamma = burn::module::Param::from_tensor(gamma.clone());
            bn.beta = burn::module::Param::from_tensor(beta.clone());
            bn
        };
        let bn = fresh();
        let x: Tensor<4> = Tensor::random(dims, Distribution::Normal(0.5, 2.0), &ad);
        let case = format!("{dims:?} relu {relu}");
        if cpu().describe().starts_with("flex") {
            assert!(norm::is_batch_norm_fused(&bn, &x), "{case}: the fused path was not taken");
        }
        let run = |fused: bool| {
            let bn = fresh();
            let xt = x.clone().require_grad();
            // two steps, so the running statistics blend twice
            let _ = if fused { norm::batch_norm(&bn, xt.clone(), relu) } else { bn.forward(xt.clone()) };
            let y = if fused {
                norm::batch_norm(&bn, xt.clone(), relu)
            } else {
                let y = bn.forward(xt.clone());
                if relu { burn::tensor::activation::relu(y) } else { y }
            };
            let r = y.clone().detach().mul_scalar(3.0).sin().add_scalar(0.1);
            let grads = (y.clone() * r).sum().backward();
            let (g, b) = (bn.gamma.grad(&grads).unwrap(), bn.beta.grad(&grads).unwrap());
            (y.detach(), xt.grad(&grads).unwrap(), g, b, bn.running_mean.value(), bn.running_var.value())
        };
        let (y0, gx0, gg0, gb0, m0, v0) = run(false);
        let (y1, gx1, gg1, gb1, m1, v1) = run(true);
        assert_close(
            &case,
            [
                ("forward", compare(y1, y0)),
                ("input gradient", compare(gx1, gx0)),
                ("gamma gradient", compare(gg1, gg0)),
                ("beta gradient", compare(gb1, gb0)),
                ("running mean", compare(m1, m0)),
                ("running variance", compare(v1, v0)),
            ],
        );
    }
}
