//! The model zoo. Every model exposes its per-stage features and its logits through [`Staged`],
//! which feature-distillation methods (MGD, FitNet) and self-distillation (MKSMT) build on.
pub mod blocks;
pub mod convnet;
pub mod import;
pub mod mlp;
pub mod mobilenet;
pub mod norm;
pub mod resnet;
pub mod swin;
pub mod wrn;

use crate::error::{Error, Result};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use norm::NormImpl;

impl Arch {
    /// DC ConvNet-`depth` of `width` channels (official: width 128, depth 3).
    pub fn convnet(width: usize, depth: usize) -> Arch {
        Arch::ConvNet(convnet::ConvNetSpec { width, depth, norm: NormImpl::Lean })
    }
    /// CIFAR ResNet-`depth` (8, 20, 32, 56, 110, …).
    pub fn resnet(depth: usize) -> Arch {
        Arch::ResNet(resnet::ResNetSpec { depth, x4: false })
    }
    /// The ×4-wide CIFAR ResNet (resnet8x4, resnet32x4).
    pub fn resnet_x4(depth: usize) -> Arch {
        Arch::ResNet(resnet::ResNetSpec { depth, x4: true })
    }
    /// ResNet-18 with a CIFAR stem and batch norm.
    pub fn resnet18() -> Arch {
        Arch::ResNetWide(resnet::ResNetImageNetSpec { depth: 18, norm: resnet::ResNorm::Batch })
    }
    /// ResNet-18 with a CIFAR stem and instance norm (`resnet18-in`): the official DC/DSA/DM
    /// `ResNet18`, the cross-architecture network of the condensation papers.
    pub fn resnet18_in() -> Arch {
        Arch::ResNetWide(resnet::ResNetImageNetSpec { depth: 18, norm: resnet::ResNorm::Instance })
    }
    /// ResNet-34 with a CIFAR stem.
    pub fn resnet34() -> Arch {
        Arch::ResNetWide(resnet::ResNetImageNetSpec { depth: 34, norm: resnet::ResNorm::Batch })
    }
    /// WRN-`depth`-`widen`.
    pub fn wrn(depth: usize, widen: usize) -> Arch {
        Arch::Wrn(wrn::WrnSpec { depth, widen })
    }
    /// MobileNetV2 ×1.
    pub fn mobilenet_v2() -> Arch {
        Arch::MobileNetV2(mobilenet::MobileNetV2Spec { width_mult: 1.0 })
    }
    /// The DC code's MLP (3 layers of 128 when `width` = 128, `layers` = 2).
    pub fn mlp(width: usize, layers: usize) -> Arch {
        Arch::Mlp(mlp::MlpSpec { width, layers })
    }

    /// A Swin Transformer (`SwinSpec::tiny()` … `large()`, or `micro(C)` for 28–32 px on a CPU).
    pub fn swin(spec: swin::SwinSpec) -> Arch {
        Arch::Swin(spec)
    }

    /// Checks that the description names a buildable network.
    pub fn validate(&self) -> Result<()> {
        self.spec().validate()
    }

    /// Seeds the device and builds the network: the same seed gives the same weights, also when
    /// other threads initialise models at the same time (see [`seeded`]).
    pub fn init_seeded(&self, input: [usize; 3], classes: usize, device: &Device, seed: u64) -> Result<Net> {
        seeded(device, seed, || self.init(input, classes, device))
    }

    /// Builds the network for `[C, H, W]` inputs and `classes` outputs on `device`.
    pub fn init(&self, input: [usize; 3], classes: usize, device: &Device) -> Result<Net> {
        self.validate()?;
        if classes < 2 {
            return Err(Error::invalid("classes", classes, "need at least 2"));
        }
        self.spec().build(input, classes, device)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.spec().label())
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

/// What every network of the zoo provides: its stages and a linear classifier on the last one.
pub trait Backbone {
    /// Output of stages `from..to` (clipped to the stages there are), shallow to deep (token
    /// stages through [`tokens_to_map`]); `x` is the image when `from` = 0, else the output of
    /// stage `from − 1`. Stages from `to` on are not computed.
    fn stages_between(&self, x: Tensor<4>, from: usize, to: usize) -> Vec<Tensor<4>>;
    /// Output of stages `from..`, shallow to deep.
    fn stages_from(&self, x: Tensor<4>, from: usize) -> Vec<Tensor<4>> {
        self.stages_between(x, from, usize::MAX)
    }
    /// The vector the classifier reads from the last stage (global average pool unless the
    /// network says otherwise).
    fn embed(&self, last: Tensor<4>) -> Tensor<2> {
        blocks::global_pool(last)
    }
    /// The final linear classifier.
    fn classifier(&self) -> &burn::nn::Linear;
    /// The final linear classifier, to be replaced.
    fn classifier_mut(&mut self) -> &mut burn::nn::Linear;
    /// Output of every stage.
    fn stages(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        self.stages_from(x, 0)
    }
    /// Logits from the last stage's output.
    fn head(&self, last: Tensor<4>) -> Tensor<2> {
        self.classifier().forward(self.embed(last))
    }
}

/// What every architecture description provides: checks, the network it builds, its name, and
/// the command-line names it answers to. Each model module implements it for its own spec.
pub trait Spec {
    /// Checks the fields, naming the bad one.
    fn validate(&self) -> Result<()>;
    /// The network for `[C, H, W]` inputs and `classes` outputs.
    fn build(&self, input: [usize; 3], classes: usize, device: &Device) -> Result<Net>;
    /// A human name such as `ResNet-20`.
    fn label(&self) -> String;
    /// `Some` when `name` (lower case, `-` separated) is one of this spec's names.
    fn parse(name: &str) -> Option<Result<Self>>
    where
        Self: Sized;
}

/// Declares [`Net`] (the networks) and [`Arch`] (their serialisable descriptions) from one list
/// each: adding an architecture is a module with a network implementing [`Backbone`] and a spec
/// implementing [`Spec`], plus one line in each list here.
macro_rules! zoo {
    (
        nets { $($(#[$ndoc:meta])* $net:ident($net_ty:ty)),* $(,)? }
        archs { $($(#[$adoc:meta])* $arch:ident($spec:ty)),* $(,)? }
    ) => {
        /// Any network of the zoo.
        // variants differ in size (a ResNet holds more layers than an MLP); a `Net` is moved
        // rarely and boxing would hide the variants from burn's `Module` derive
        #[allow(clippy::large_enum_variant)]
        #[derive(Module, Debug)]
        pub enum Net {
            $($(#[$ndoc])* $net($net_ty)),*
        }

        impl Net {
            /// The architecture family (`ResNet`, `Swin` …).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Net::$net(_) => stringify!($net)),*
                }
            }
            fn backbone(&self) -> &dyn Backbone {
                match self {
                    $(Net::$net(m) => m),*
                }
            }
            fn backbone_mut(&mut self) -> &mut dyn Backbone {
                match self {
                    $(Net::$net(m) => m),*
                }
            }
        }

        /// An architecture description (serialisable; [`Arch::init`] builds the network).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum Arch {
            $($(#[$adoc])* $arch($spec)),*
        }

        impl Arch {
            fn spec(&self) -> &dyn Spec {
                match self {
                    $(Arch::$arch(s) => s),*
                }
            }
            fn parse_name(name: &str) -> Option<Result<Arch>> {
                $(if let Some(spec) = <$spec as Spec>::parse(name) {
                    return Some(spec.map(Arch::$arch));
                })*
                None
            }
        }
    };
}

zoo! {
    nets {
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
        /// Swin Transformer.
        Swin(swin::Swin),
    }
    archs {
        /// DC ConvNet: `depth` conv blocks of `width` channels with instance norm.
        ConvNet(convnet::ConvNetSpec),
        /// CIFAR ResNet-`depth` (6n+2); `x4` = the 4× wider RepDistiller variant.
        ResNet(resnet::ResNetSpec),
        /// ResNet-18 / ResNet-34 with a CIFAR stem.
        ResNetWide(resnet::ResNetImageNetSpec),
        /// WRN-`depth`-`widen`.
        Wrn(wrn::WrnSpec),
        /// MobileNetV2 with width multiplier.
        MobileNetV2(mobilenet::MobileNetV2Spec),
        /// MLP with `layers` hidden layers of `width` units.
        Mlp(mlp::MlpSpec),
        /// Swin Transformer (torchvision's v1 layout).
        Swin(swin::SwinSpec),
    }
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
    /// Number of stages.
    pub fn num_stages(&self, input: [usize; 3], device: &Device) -> usize {
        self.stage_dims(input, device).len()
    }
    /// Output of stages `from..` given the output of stage `from − 1` (the image when `from` =
    /// 0): the upper part of a network whose lower part is shared (ONE's branches).
    pub fn stages_from(&self, x: Tensor<4>, from: usize) -> Vec<Tensor<4>> {
        self.backbone().stages_from(x, from)
    }
    /// The `[1, C, H, W]` shape of every stage's output for one `[C, H, W]` input.
    pub fn stage_dims(&self, input: [usize; 3], device: &Device) -> Vec<[usize; 4]> {
        let [c, h, w] = input;
        self.backbone().stages(Tensor::zeros([1, c, h, w], device)).iter().map(|s| s.dims()).collect()
    }
    /// Output of stages `from..to` only (the stages after `to` are not computed): the lower part
    /// of a network trained through an intermediate head (MKSMT's step 1).
    pub fn stages_between(&self, x: Tensor<4>, from: usize, to: usize) -> Vec<Tensor<4>> {
        self.backbone().stages_between(x, from, to)
    }
    /// The vector the classifier reads, from the last stage's output.
    pub fn embed(&self, last: Tensor<4>) -> Tensor<2> {
        self.backbone().embed(last)
    }
    /// Logits from the last stage's output.
    pub fn head(&self, last: Tensor<4>) -> Tensor<2> {
        self.backbone().head(last)
    }
    /// The final linear classifier.
    pub fn classifier(&self) -> &burn::nn::Linear {
        self.backbone().classifier()
    }
    /// The same network with another final classifier (same shape).
    pub fn with_classifier(mut self, fc: burn::nn::Linear) -> Net {
        *self.backbone_mut().classifier_mut() = fc;
        self
    }

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
    /// `resnet34`, `wrn-16-2`, `mobilenetv2`, `mlp` / `mlp-128`, `swin-t`, `swin-micro` (each spec's own `parse`).
    fn from_str(s: &str) -> Result<Arch> {
        let name = s.trim().to_ascii_lowercase().replace('_', "-");
        let arch = Arch::parse_name(&name).unwrap_or_else(|| {
            Err(Error::invalid("arch", s, "expected convnet[-DEPTH[-wWIDTH]], resnetN, resnetNx4, resnet18[-in], resnet34[-in], wrn-D-K, mobilenetv2, mlp[-WIDTH], swin-t/s/b/l or swin-micro[-wC]"))
        })?;
        arch.validate()?;
        Ok(arch)
    }
}

/// Builds a module from a seeded device: backends seed one global generator, so seeding,
/// building and drawing every parameter (burn initialises them lazily) happen under one lock,
/// and the same seed gives the same weights whatever other threads initialise meanwhile.
pub fn seeded<M: Module>(device: &Device, seed: u64, build: impl FnOnce() -> Result<M>) -> Result<M> {
    struct Touch;
    impl burn::module::ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    with_seed(device, seed, || {
        let module = build()?;
        module.visit(&mut Touch);
        Ok(module)
    })
}

/// Runs `draw` on the device's generator seeded with `seed`, under the lock [`seeded`] uses.
/// The draws are executed before the lock is released: a remote device runs them on its server
/// later otherwise, where another thread's seed could come first (several servers in one
/// process share one generator).
pub fn with_seed<T>(device: &Device, seed: u64, draw: impl FnOnce() -> T) -> T {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
    device.seed(seed);
    let drawn = draw();
    // a local device has run them already; a failed sync surfaces on the next read instead
    let _ = device.sync();
    drawn
}

/// A number inside an architecture name, or an error naming the whole name.
fn number(name: &str, digits: &str) -> Result<usize> {
    digits.parse::<usize>().map_err(|_| Error::invalid("arch", name, "could not read a number"))
}

/// A stable digest (16 hex digits) of every parameter and buffer of `module`, in visiting order:
/// what a run records of a teacher it was handed, so that a checkpoint distilled from one
/// teacher does not resume against another of the same architecture.
pub fn weights_digest<M: Module>(module: &M) -> String {
    struct Digest(u64);
    impl burn::module::ModuleVisitor for Digest {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let values: Vec<f32> = param.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
            let shape: Vec<u8> = param.shape().dims::<D>().iter().flat_map(|d| (*d as u64).to_le_bytes()).collect();
            self.0 = crate::record::fnv1a(self.0, &shape);
            for v in values {
                self.0 = crate::record::fnv1a(self.0, &v.to_le_bytes());
            }
        }
    }
    let mut d = Digest(crate::record::FNV_OFFSET);
    module.visit(&mut d);
    format!("{:016x}", d.0)
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
