//! The model zoo. Every model exposes its per-stage features and its logits through [`Staged`],
//! which feature-distillation methods (MGD, FitNet) and self-distillation (MKSMT) build on.
pub mod blocks;
pub mod convnet;
pub mod mlp;
pub mod mobilenet;
pub mod norm;
pub mod resnet;
pub mod wrn;

use crate::error::{Error, Result};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use norm::NormImpl;

/// An architecture description (serialisable; [`Arch::init`] builds the network).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Arch {
    /// DC ConvNet: `depth` conv blocks of `width` channels with instance norm.
    ConvNet { width: usize, depth: usize, norm: NormImpl },
    /// CIFAR ResNet-`depth` (6n+2); `x4` = the 4× wider RepDistiller variant.
    ResNet { depth: usize, x4: bool },
    /// ResNet-18 / ResNet-34 with a CIFAR stem.
    ResNetWide { depth: usize },
    /// WRN-`depth`-`widen`.
    Wrn { depth: usize, widen: usize },
    /// MobileNetV2 with width multiplier.
    MobileNetV2 { width_mult: f64 },
    /// MLP with `layers` hidden layers of `width` units.
    Mlp { width: usize, layers: usize },
}

impl Arch {
    /// DC ConvNet-`depth` of `width` channels (official: width 128, depth 3).
    pub fn convnet(width: usize, depth: usize) -> Arch {
        Arch::ConvNet { width, depth, norm: NormImpl::Lean }
    }
    /// CIFAR ResNet-`depth` (8, 20, 32, 56, 110, …).
    pub fn resnet(depth: usize) -> Arch {
        Arch::ResNet { depth, x4: false }
    }
    /// The ×4-wide CIFAR ResNet (resnet8x4, resnet32x4).
    pub fn resnet_x4(depth: usize) -> Arch {
        Arch::ResNet { depth, x4: true }
    }
    /// ResNet-18 with a CIFAR stem.
    pub fn resnet18() -> Arch {
        Arch::ResNetWide { depth: 18 }
    }
    /// ResNet-34 with a CIFAR stem.
    pub fn resnet34() -> Arch {
        Arch::ResNetWide { depth: 34 }
    }
    /// WRN-`depth`-`widen`.
    pub fn wrn(depth: usize, widen: usize) -> Arch {
        Arch::Wrn { depth, widen }
    }
    /// MobileNetV2 ×1.
    pub fn mobilenet_v2() -> Arch {
        Arch::MobileNetV2 { width_mult: 1.0 }
    }
    /// The DC code's MLP (3 layers of 128 when `width` = 128, `layers` = 2).
    pub fn mlp(width: usize, layers: usize) -> Arch {
        Arch::Mlp { width, layers }
    }

    /// Checks that the description names a buildable network.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, v: usize, why: &str| Err(Error::invalid(field, v, why));
        match *self {
            Arch::ConvNet { width, depth, .. } if width == 0 || depth == 0 => bad("convnet.width/depth", width.min(depth), "must be ≥ 1"),
            Arch::ResNet { depth, .. } if depth < 8 || (depth - 2) % 6 != 0 => bad("resnet.depth", depth, "CIFAR ResNet depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110)"),
            Arch::ResNetWide { depth } if depth != 18 && depth != 34 => bad("resnet.depth", depth, "expected 18 or 34"),
            Arch::Wrn { depth, .. } if depth < 10 || (depth - 4) % 6 != 0 => bad("wrn.depth", depth, "WRN depth must be 6n+4 (10, 16, 22, 28, 40)"),
            Arch::Wrn { widen: 0, .. } => bad("wrn.widen", 0, "must be ≥ 1"),
            Arch::MobileNetV2 { width_mult } if width_mult.is_nan() || width_mult <= 0.0 => Err(Error::invalid("mobilenet.width_mult", width_mult, "must be > 0")),
            Arch::Mlp { width: 0, layers } if layers > 0 => bad("mlp.width", 0, "must be ≥ 1"),
            _ => Ok(()),
        }
    }

    /// Seeds the device and builds the network: the same seed gives the same weights, also when
    /// other threads initialise models at the same time (backends seed one global generator, so
    /// seeding and drawing happen under one lock).
    pub fn init_seeded(&self, input: [usize; 3], classes: usize, device: &Device, seed: u64) -> Result<Net> {
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
        device.seed(seed);
        let net = self.init(input, classes, device)?;
        // burn initialises parameters lazily: draw them now, while the seed holds
        struct Touch;
        impl burn::module::ModuleVisitor for Touch {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                let _ = param.val();
            }
        }
        net.visit(&mut Touch);
        Ok(net)
    }

    /// Builds the network for `[C, H, W]` inputs and `classes` outputs on `device`.
    pub fn init(&self, input: [usize; 3], classes: usize, device: &Device) -> Result<Net> {
        self.validate()?;
        if classes < 2 {
            return Err(Error::invalid("classes", classes, "need at least 2"));
        }
        let c = input[0];
        if let Arch::ConvNet { depth, .. } = *self {
            // each block halves the map (28×28 is padded to 32×32 first); 0 pixels cannot pool
            let side = if input[1..] == [28, 28] { 32 } else { input[1].min(input[2]) };
            if side >> depth.min(63) == 0 {
                let most = usize::BITS - 1 - side.max(1).leading_zeros();
                return Err(Error::invalid("convnet.depth", depth, format!("{depth} pooling blocks shrink {}×{} inputs to nothing; use depth ≤ {most}", input[1], input[2])));
            }
        }
        Ok(match *self {
            Arch::ConvNet { width, depth, norm } => Net::ConvNet(convnet::ConvNet::new(width, depth, norm, input, classes, device)),
            Arch::ResNet { depth, x4 } => {
                let n = (depth - 2) / 6;
                let (stem, widths) = if x4 { (32, [64, 128, 256]) } else { (16, [16, 32, 64]) };
                Net::ResNet(resnet::ResNet::new(c, stem, &widths, &[n; 3], classes, device))
            }
            Arch::ResNetWide { depth } => {
                let blocks: &[usize] = if depth == 18 { &[2, 2, 2, 2] } else { &[3, 4, 6, 3] };
                Net::ResNet(resnet::ResNet::new(c, 64, &[64, 128, 256, 512], blocks, classes, device))
            }
            Arch::Wrn { depth, widen } => Net::Wrn(wrn::WideResNet::new(depth, widen, c, classes, device)),
            Arch::MobileNetV2 { width_mult } => Net::MobileNet(mobilenet::MobileNetV2::new(width_mult, c, classes, device)),
            Arch::Mlp { width, layers } => Net::Mlp(mlp::Mlp::new(input.iter().product(), width, layers, classes, device)),
        })
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arch::ConvNet { width, depth, .. } => write!(f, "ConvNet-{depth} (w{width})"),
            Arch::ResNet { depth, x4: false } => write!(f, "ResNet-{depth}"),
            Arch::ResNet { depth, x4: true } => write!(f, "ResNet-{depth}x4"),
            Arch::ResNetWide { depth } => write!(f, "ResNet-{depth}"),
            Arch::Wrn { depth, widen } => write!(f, "WRN-{depth}-{widen}"),
            Arch::MobileNetV2 { width_mult } => write!(f, "MobileNetV2 ×{width_mult}"),
            Arch::Mlp { width, layers } => write!(f, "MLP {layers}×{width}"),
        }
    }
}

/// Per-stage features and logits of one forward pass.
///
/// Every stage is stored as a feature map `[N, C, H, W]`. A transformer stage whose output is a
/// token map `[N, L, C]` with `L = H·W` (row-major patches) is stored through
/// [`tokens_to_map`]; [`Features::tokens`] gives it back as `[N, L, C]`, so a method can read
/// either layout from any backbone.
#[derive(Debug, Clone)]
pub struct Features {
    /// Output of every stage, shallow to deep, `[N, C, H, W]`.
    pub stages: Vec<Tensor<4>>,
    /// Class logits `[N, classes]`.
    pub logits: Tensor<2>,
}

impl Features {
    /// Stage `i` as a feature map `[N, C, H, W]`.
    pub fn map(&self, i: usize) -> Tensor<4> {
        self.stages[i].clone()
    }
    /// Stage `i` as a token map `[N, H·W, C]`.
    pub fn tokens(&self, i: usize) -> Tensor<3> {
        map_to_tokens(self.stages[i].clone())
    }
}

/// `[N, L, C]` tokens (L = h·w, row-major) → `[N, C, h, w]`.
pub fn tokens_to_map(tokens: Tensor<3>, h: usize, w: usize) -> Tensor<4> {
    let [n, _, c] = tokens.dims();
    tokens.swap_dims(1, 2).reshape([n, c, h, w])
}

/// `[N, C, H, W]` → `[N, H·W, C]` tokens (the inverse of [`tokens_to_map`]).
pub fn map_to_tokens(map: Tensor<4>) -> Tensor<3> {
    let [n, c, h, w] = map.dims();
    map.reshape([n, c, h * w]).swap_dims(1, 2)
}

/// A classifier that exposes its stages.
pub trait Staged {
    /// Logits `[N, classes]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_features(x).logits
    }
    /// Every stage's output and the logits.
    fn forward_features(&self, x: Tensor<4>) -> Features;
}

/// What every network of the zoo provides: its stages and a head on the last one.
pub trait Backbone {
    /// Output of every stage, shallow to deep (token stages through [`tokens_to_map`]).
    fn stages(&self, x: Tensor<4>) -> Vec<Tensor<4>>;
    /// Logits from the last stage's output.
    fn head(&self, last: Tensor<4>) -> Tensor<2>;
}

/// Declares [`Net`] from one list of `Variant(Type)`: adding a network to the zoo is one line
/// here (its type implements [`Backbone`]) plus its [`Arch`] description.
macro_rules! zoo {
    ($($(#[$doc:meta])* $variant:ident($ty:ty)),* $(,)?) => {
        /// Any network of the zoo.
        // variants differ in size (a ResNet holds more layers than an MLP); a `Net` is moved
        // rarely and boxing would hide the variants from burn's `Module` derive
        #[allow(clippy::large_enum_variant)]
        #[derive(Module, Debug)]
        pub enum Net {
            $($(#[$doc])* $variant($ty)),*
        }

        impl Net {
            fn backbone(&self) -> &dyn Backbone {
                match self {
                    $(Net::$variant(m) => m),*
                }
            }
        }
    };
}

zoo! {
    /// DC ConvNet.
    ConvNet(convnet::ConvNet),
    /// CIFAR-stem ResNet (6n+2, ×4, 18, 34).
    ResNet(resnet::ResNet),
    /// Wide ResNet.
    Wrn(wrn::WideResNet),
    /// MobileNetV2.
    MobileNet(mobilenet::MobileNetV2),
    /// MLP.
    Mlp(mlp::Mlp),
}

impl Staged for Net {
    fn forward_features(&self, x: Tensor<4>) -> Features {
        let net = self.backbone();
        let stages = net.stages(x);
        let logits = net.head(stages.last().expect("every model has at least one stage").clone());
        Features { stages, logits }
    }
}

impl Net {
    /// Checks that the network takes `[N, c, h, w]` images and predicts `classes` logits (one
    /// probe image through the network); a misfit is an [`Error::Shape`] naming `what` and both
    /// shapes, instead of a panic inside burn later.
    pub fn check_fits(&self, what: &str, [c, h, w]: [usize; 3], classes: usize, device: &Device) -> Result<()> {
        let expected = format!("[N, {c}, {h}, {w}] → [N, {classes}]");
        let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.forward(Tensor::zeros([1, c, h, w], device)).dims()));
        match probe {
            Ok([_, k]) if k == classes => Ok(()),
            Ok([_, k]) => Err(Error::Shape { what: what.into(), expected, got: format!("[N, {c}, {h}, {w}] → [N, {k}] ({k} classes)") }),
            Err(panic) => Err(Error::Shape { what: what.into(), expected, got: format!("a network that cannot take these images ({})", panic_message(&*panic)) }),
        }
    }
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_else(|| "unknown panic".into())
}

impl std::str::FromStr for Arch {
    type Err = Error;

    /// Parses `convnet` / `convnet-3` / `convnet-3-w64`, `resnet20`, `resnet8x4`, `resnet18`,
    /// `resnet34`, `wrn-16-2`, `mobilenetv2`, `mlp` / `mlp-128`.
    fn from_str(s: &str) -> Result<Arch> {
        let lower = s.trim().to_ascii_lowercase().replace('_', "-");
        let num = |t: &str| t.parse::<usize>().map_err(|_| Error::invalid("arch", s, "could not read a number"));
        let parts: Vec<&str> = lower.split('-').collect();
        let arch = match parts.as_slice() {
            ["convnet"] => Arch::convnet(128, 3),
            ["convnet", d] => Arch::convnet(128, num(d)?),
            ["convnet", d, w] if w.starts_with('w') => Arch::convnet(num(&w[1..])?, num(d)?),
            ["resnet18"] => Arch::resnet18(),
            ["resnet34"] => Arch::resnet34(),
            [r] if r.starts_with("resnet") && r.ends_with("x4") => Arch::resnet_x4(num(&r[6..r.len() - 2])?),
            [r] if r.starts_with("resnet") => Arch::resnet(num(&r[6..])?),
            ["wrn", d, k] => Arch::wrn(num(d)?, num(k)?),
            ["mobilenetv2"] => Arch::mobilenet_v2(),
            ["mlp"] => Arch::mlp(128, 2),
            ["mlp", w] => Arch::mlp(num(w)?, 2),
            _ => {
                return Err(Error::invalid(
                    "arch",
                    s,
                    "expected convnet[-DEPTH[-wWIDTH]], resnetN, resnetNx4, resnet18, resnet34, wrn-D-K, mobilenetv2 or mlp[-WIDTH]",
                ));
            }
        };
        arch.validate()?;
        Ok(arch)
    }
}

/// Number of trainable parameters (burn's `num_params` also counts BatchNorm's running
/// mean/variance buffers; papers count only weights, so these are skipped here).
pub fn trainable_params<M: Module>(module: &M) -> usize {
    struct Counter {
        path: Vec<String>,
        count: usize,
    }
    impl burn::module::ModuleVisitor for Counter {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let buffer = self.path.last().is_some_and(|n| n == "running_mean" || n == "running_var");
            if !buffer {
                self.count += param.shape().num_elements();
            }
        }
    }
    let mut c = Counter { path: Vec::new(), count: 0 };
    module.visit(&mut c);
    c.count
}
