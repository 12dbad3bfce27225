//! Swin Transformer (Liu et al., ICCV 2021) as `torchvision.models.swin_t` builds it (v1), so that
//! torchvision's weights load into it unchanged (`models::import`) and give the same logits
//! (checked against a torchvision fixture in `tests/swin.rs`):
//!
//! - patch partition + linear embedding: a `p×p` stride-`p` conv, then LayerNorm;
//! - four stages of blocks `x + W-MSA(LN(x))`, `x + MLP(LN(x))` (MLP: Linear → GELU → Linear,
//!   ratio 4); odd blocks use shifted windows (cyclic roll by ⌊w/2⌋ and the attention mask of
//!   torchvision's `shifted_window_attention`); window attention adds a learnt relative position
//!   bias (`(2w−1)²` entries per head);
//! - patch merging between stages (2×2 neighbours concatenated → LayerNorm → Linear 4C → 2C);
//! - LayerNorm, global average pool and a linear head.
//!
//! Any input torchvision takes runs here as it runs there (`shifted_window_attention`): a token
//! map the window does not divide is zero-padded at the bottom and right to whole windows for the
//! attention and cropped back after it (no shift along an axis one window covers), so
//! non-square images and sizes other than multiples of 32·window work; an odd map is
//! zero-padded before merging; the patch embedding drops the rows and columns the patch does not
//! divide. With `clip_windows` (the original Microsoft code's rule, [`SwinSpec::micro`]) a map
//! smaller than the window is one window of its own size instead. Dropout and stochastic depth
//! are left out (they are identity at inference; our CPU runs are small).
use super::{Backbone, Net, Spec};
use crate::error::{ensure, Error, Result};
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// torchvision's `trunc_normal_(std=0.02)` (truncated at ±2, i.e. ±100 σ: a plain normal).
fn small_normal() -> Initializer {
    Initializer::Normal { mean: 0.0, std: 0.02 }
}

fn linear(d_in: usize, d_out: usize, bias: bool, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out).with_bias(bias).with_initializer(small_normal()).init(device)
}

/// `[N, C, H, W]` → `[N, H, W, C]` (the layout Swin works in).
fn to_nhwc(x: Tensor<4>) -> Tensor<4> {
    x.permute([0, 2, 3, 1])
}

/// `[N, H, W, C]` → `[N, C, H, W]` (the layout stages are exposed in).
fn to_nchw(x: Tensor<4>) -> Tensor<4> {
    x.permute([0, 3, 1, 2])
}

/// Patch partition + linear embedding: `p×p` conv with stride `p`, then LayerNorm.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    proj: Conv2d,
    norm: LayerNorm,
}

impl PatchEmbed {
    /// `[N, C, H, W]` image → `[N, H/p, W/p, D]` tokens.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.norm.forward(to_nhwc(self.proj.forward(x)))
    }
}

/// Python slice `start..end` of a length-`len` axis (negative indices count from the end;
/// `None` = to the end), as torchvision's mask code indexes it.
fn py_slice(start: isize, end: Option<isize>, len: usize) -> std::ops::Range<usize> {
    let at = |i: isize| if i < 0 { (len as isize + i).max(0) as usize } else { (i as usize).min(len) };
    let (a, b) = (at(start), end.map_or(len, at));
    a..b.max(a)
}

/// Region labels of a `len` axis after a cyclic shift by `shift` with window `w` (torchvision's
/// slices `(0, −w)`, `(−w, −shift)`, `(−shift, None)`, later ones overwriting earlier ones).
fn shift_regions(len: usize, w: usize, shift: usize) -> Vec<usize> {
    let (w, s) = (w as isize, shift as isize);
    let mut label = vec![0; len];
    for (k, (a, b)) in [(0, Some(-w)), (-w, Some(-s)), (-s, None)].into_iter().enumerate() {
        py_slice(a, b, len).for_each(|i| label[i] = k);
    }
    label
}

/// The additive attention mask of shifted windows, `[windows, w², w²]` row-major: 0 where two
/// tokens of a window came from the same region of the unshifted map, −100 where the cyclic
/// roll put tokens from different regions into one window (torchvision's value).
pub fn shift_mask(h: usize, w_len: usize, window: usize, shift: [usize; 2]) -> Vec<f32> {
    let (rows, cols) = (shift_regions(h, window, shift[0]), shift_regions(w_len, window, shift[1]));
    let n = window * window;
    let mut mask = Vec::with_capacity(h * w_len * window * window);
    for wr in 0..h / window {
        for wc in 0..w_len / window {
            let region = |t: usize| {
                let (r, c) = (wr * window + t / window, wc * window + t % window);
                rows[r] * 3 + cols[c]
            };
            for i in 0..n {
                for j in 0..n {
                    mask.push(if region(i) == region(j) { 0.0 } else { -100.0 });
                }
            }
        }
    }
    mask
}

/// torchvision's `relative_position_index` for a `w×w` window: entry `(i, j)` (row-major over
/// `w⁴`) is the row of the bias table for the offset from token `j` to token `i`.
pub fn relative_position_index(w: usize) -> Vec<i64> {
    let w = w as i64;
    let coords: Vec<(i64, i64)> = (0..w * w).map(|t| (t / w, t % w)).collect();
    let mut index = Vec::with_capacity(coords.len() * coords.len());
    for &(ri, ci) in &coords {
        for &(rj, cj) in &coords {
            index.push((ri - rj + w - 1) * (2 * w - 1) + (ci - cj + w - 1));
        }
    }
    index
}

/// Window multi-head self-attention with a relative position bias (torchvision's
/// `ShiftedWindowAttention`; the shift is the block's).
#[derive(Module, Debug)]
pub struct WindowAttention {
    qkv: Linear,
    proj: Linear,
    relative_position_bias_table: Param<Tensor<2>>,
    heads: usize,
    window: usize,
}

impl WindowAttention {
    fn new(dim: usize, heads: usize, window: usize, device: &Device) -> WindowAttention {
        let side = 2 * window - 1;
        WindowAttention {
            qkv: linear(dim, 3 * dim, true, device),
            proj: linear(dim, dim, true, device),
            relative_position_bias_table: small_normal().init([side * side, heads], device),
            heads,
            window,
        }
    }

    /// The bias `[1, heads, w², w²]` read from the table.
    fn relative_bias(&self, device: &Device) -> Tensor<4> {
        let n = self.window * self.window;
        let index = Tensor::<1, Int>::from_data(TensorData::new(relative_position_index(self.window), [n * n]), device);
        self.relative_position_bias_table.val().select(0, index).reshape([n, n, self.heads]).permute([2, 0, 1]).unsqueeze::<4>()
    }

    /// `[B, H, W, C]` → `[B, H, W, C]`: attention inside windows of the map rolled by `shift`.
    pub fn forward(&self, x: Tensor<4>, shift: usize) -> Tensor<4> {
        let device = x.device();
        let w = self.window;
        let [b, h, wd, c] = x.dims();
        let (pad_b, pad_r) = ((w - h % w) % w, (w - wd % w) % w);
        let x = if pad_b + pad_r > 0 { x.pad([(0, 0), (0, pad_b), (0, pad_r), (0, 0)], PadMode::Constant(0.0)) } else { x };
        let (ph, pw) = (h + pad_b, wd + pad_r);
        // no shift along an axis that one window covers (torchvision)
        let shift = [if w >= ph { 0 } else { shift }, if w >= pw { 0 } else { shift }];
        let shifted = shift[0] + shift[1] > 0;
        let x = if shifted { x.roll(&[-(shift[0] as i64), -(shift[1] as i64)], &[1, 2]) } else { x };
        let (nh, nw, n) = (ph / w, pw / w, w * w);
        let windows = nh * nw;
        let x: Tensor<3> = x.reshape([b, nh, w, nw, w, c]).permute([0, 1, 3, 2, 4, 5]).reshape([b * windows, n, c]);

        let (heads, hd) = (self.heads, c / self.heads);
        let qkv: Tensor<5> = self.qkv.forward(x).reshape([b * windows, n, 3, heads, hd]);
        let part = |k: usize| -> Tensor<4> { qkv.clone().narrow(2, k, 1).reshape([b * windows, n, heads, hd]).swap_dims(1, 2) };
        let (q, k, v) = (part(0).mul_scalar((hd as f64).powf(-0.5)), part(1), part(2));
        let mut attn = q.matmul(k.swap_dims(2, 3)) + self.relative_bias(&device);
        if shifted {
            let mask = Tensor::<3>::from_data(TensorData::new(shift_mask(ph, pw, w, shift), [windows, n, n]), &device);
            attn = (attn.reshape([b, windows, heads, n, n]) + mask.reshape([1, windows, 1, n, n])).reshape([b * windows, heads, n, n]);
        }
        let x = softmax(attn, 3).matmul(v).swap_dims(1, 2).reshape([b * windows, n, c]);
        let x: Tensor<4> = self.proj.forward(x).reshape([b, nh, nw, w, w, c]).permute([0, 1, 3, 2, 4, 5]).reshape([b, ph, pw, c]);
        let x = if shifted { x.roll(&[shift[0] as i64, shift[1] as i64], &[1, 2]) } else { x };
        if pad_b + pad_r > 0 { x.slice([0..b, 0..h, 0..wd, 0..c]) } else { x }
    }
}

/// Linear → GELU → Linear (torchvision's `MLP`: keys `mlp.0` and `mlp.3`).
#[derive(Module, Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

/// One Swin block: `x + attn(LN(x))`, then `x + MLP(LN(x))`.
#[derive(Module, Debug)]
pub struct SwinBlock {
    norm1: LayerNorm,
    attn: WindowAttention,
    norm2: LayerNorm,
    mlp: Mlp,
    shift: usize,
}

impl SwinBlock {
    fn new(dim: usize, heads: usize, window: usize, shift: usize, mlp_ratio: f64, device: &Device) -> SwinBlock {
        let hidden = (dim as f64 * mlp_ratio) as usize;
        SwinBlock {
            norm1: LayerNormConfig::new(dim).init(device),
            attn: WindowAttention::new(dim, heads, window, device),
            norm2: LayerNormConfig::new(dim).init(device),
            mlp: Mlp { fc1: linear(dim, hidden, true, device), fc2: linear(hidden, dim, true, device) },
            shift,
        }
    }
    /// `[B, H, W, C]` → `[B, H, W, C]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x), self.shift);
        let y = self.mlp.fc2.forward(gelu(self.mlp.fc1.forward(self.norm2.forward(x.clone()))));
        x + y
    }
}

/// Patch merging: each 2×2 neighbourhood concatenated (torchvision's order x₀₀, x₁₀, x₀₁, x₁₁)
/// → LayerNorm(4C) → Linear(4C → 2C, no bias); an odd map is zero-padded first.
#[derive(Module, Debug)]
pub struct PatchMerging {
    norm: LayerNorm,
    reduction: Linear,
}

impl PatchMerging {
    fn new(dim: usize, device: &Device) -> PatchMerging {
        PatchMerging { norm: LayerNormConfig::new(4 * dim).init(device), reduction: linear(4 * dim, 2 * dim, false, device) }
    }
    /// `[B, H, W, C]` → `[B, ⌈H/2⌉, ⌈W/2⌉, 2C]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, h, w, c] = x.dims();
        let x = if h % 2 + w % 2 > 0 { x.pad([(0, 0), (0, h % 2), (0, w % 2), (0, 0)], PadMode::Constant(0.0)) } else { x };
        let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
        // [B, h2, row, w2, col, C] → [B, h2, w2, col, row, C]: channel block index = col·2 + row
        let x: Tensor<4> = x.reshape([b, h2, 2, w2, 2, c]).permute([0, 1, 3, 4, 2, 5]).reshape([b, h2, w2, 4 * c]);
        self.reduction.forward(self.norm.forward(x))
    }
}

/// One stage: patch merging (every stage but the first), then its blocks.
#[derive(Module, Debug)]
pub struct SwinStage {
    merge: Option<PatchMerging>,
    blocks: Vec<SwinBlock>,
}

/// The Swin Transformer.
#[derive(Module, Debug)]
pub struct Swin {
    patch_embed: PatchEmbed,
    stages: Vec<SwinStage>,
    norm: LayerNorm,
    head: Linear,
}

impl Swin {
    /// The network described by `spec` for `in_channels`-channel images and `classes` outputs.
    pub fn new(spec: &SwinSpec, [in_channels, h, w]: [usize; 3], classes: usize, device: &Device) -> Swin {
        let windows = spec.stage_windows(h, w);
        let p = spec.patch;
        let proj = Conv2dConfig::new([in_channels, spec.embed], [p, p]).with_stride([p, p]).init(device);
        let patch_embed = PatchEmbed { proj, norm: LayerNormConfig::new(spec.embed).init(device) };
        let mut dim = spec.embed;
        let stages = spec
            .depths
            .iter()
            .zip(&spec.heads)
            .enumerate()
            .map(|(i, (&depth, &heads))| {
                let merge = (i > 0).then(|| {
                    let m = PatchMerging::new(dim, device);
                    dim *= 2;
                    m
                });
                let window = windows[i];
                let blocks = (0..depth).map(|j| SwinBlock::new(dim, heads, window, if j % 2 == 0 { 0 } else { window / 2 }, spec.mlp_ratio, device)).collect();
                SwinStage { merge, blocks }
            })
            .collect();
        Swin { patch_embed, stages, norm: LayerNormConfig::new(dim).init(device), head: linear(dim, classes, true, device) }
    }
}

impl Swin {
    /// Number of stages.
    pub fn num_stages(&self) -> usize {
        self.stages.len()
    }
}

impl Backbone for Swin {
    /// Stage outputs as `[N, C, H, W]` maps (row-major tokens, see [`super::tokens_to_map`]);
    /// the patch embedding is the stem, not a stage.
    fn stages_between(&self, x: Tensor<4>, from: usize, to: usize) -> Vec<Tensor<4>> {
        let mut x = if from > 0 { to_nhwc(x) } else { self.patch_embed.forward(x) };
        let mut out = Vec::with_capacity(self.stages.len());
        for stage in self.stages.iter().skip(from).take(to.saturating_sub(from)) {
            if let Some(m) = &stage.merge {
                x = m.forward(x);
            }
            for block in &stage.blocks {
                x = block.forward(x);
            }
            out.push(to_nchw(x.clone()));
        }
        out
    }
    /// LayerNorm over channels, then the mean over tokens (torchvision's `norm` → `avgpool`).
    fn embed(&self, last: Tensor<4>) -> Tensor<2> {
        let [n, c, _, _] = last.dims();
        self.norm.forward(to_nhwc(last)).mean_dims(&[1, 2]).reshape([n, c])
    }
    fn classifier(&self) -> &Linear {
        &self.head
    }
    fn classifier_mut(&mut self) -> &mut Linear {
        &mut self.head
    }
}

/// The description of a Swin Transformer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwinSpec {
    /// Patch side `p` (torchvision 4): an image of side `S` gives `S/p` tokens per side.
    pub patch: usize,
    /// Window side `w` (torchvision 7); odd blocks shift by `⌊w/2⌋`.
    pub window: usize,
    /// Embedding width `C` of stage 1 (doubles at every merge).
    pub embed: usize,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Attention heads per stage.
    pub heads: Vec<usize>,
    /// MLP hidden width / block width (4).
    pub mlp_ratio: f64,
    /// A stage map no larger than the window becomes one window of its own size without shift
    /// (the original Microsoft code's rule) instead of torchvision's zero-padded window — the same
    /// network wherever the window divides every map (224-px inputs), far cheaper on small images.
    #[serde(default)]
    pub clip_windows: bool,
}

impl SwinSpec {
    /// Swin-T (28 M parameters at 224 px; torchvision `swin_t`).
    pub fn tiny() -> SwinSpec {
        SwinSpec { patch: 4, window: 7, embed: 96, depths: vec![2, 2, 6, 2], heads: vec![3, 6, 12, 24], mlp_ratio: 4.0, clip_windows: false }
    }
    /// Swin-S (torchvision `swin_s`).
    pub fn small() -> SwinSpec {
        SwinSpec { depths: vec![2, 2, 18, 2], ..SwinSpec::tiny() }
    }
    /// Swin-B (torchvision `swin_b`).
    pub fn base() -> SwinSpec {
        SwinSpec { embed: 128, depths: vec![2, 2, 18, 2], heads: vec![4, 8, 16, 32], ..SwinSpec::tiny() }
    }
    /// Swin-L (the MKSMT paper's backbone; 192 wide, heads 6/12/24/48).
    pub fn large() -> SwinSpec {
        SwinSpec { embed: 192, depths: vec![2, 2, 18, 2], heads: vec![6, 12, 24, 48], ..SwinSpec::tiny() }
    }
    /// A Swin that trains on 28–32 px images on a CPU: patch 2, window 7 (a 28-px image gives
    /// 14×14 maps of 2×2 shifted windows, then 7×7, 4×4 and 2×2 maps, each one window of its own
    /// size: `clip_windows`), width `embed`, 2/2/2/2 blocks, heads 1/2/4/8.
    pub fn micro(embed: usize) -> SwinSpec {
        SwinSpec { patch: 2, window: 7, embed, depths: vec![2; 4], heads: vec![1, 2, 4, 8], mlp_ratio: 4.0, clip_windows: true }
    }

    /// The window side of every stage for an `h × w` image.
    pub fn stage_windows(&self, h: usize, w: usize) -> Vec<usize> {
        self.stage_sizes(h, w).into_iter().map(|[sh, sw]| if self.clip_windows { self.window.min(sh).min(sw) } else { self.window }).collect()
    }

    /// Token-map side of every stage for an `h × w` image.
    pub fn stage_sizes(&self, h: usize, w: usize) -> Vec<[usize; 2]> {
        let mut size = [h / self.patch.max(1), w / self.patch.max(1)];
        (0..self.depths.len())
            .map(|i| {
                if i > 0 {
                    size = [size[0].div_ceil(2), size[1].div_ceil(2)];
                }
                size
            })
            .collect()
    }

    /// Checks that `[C, H, W]` images fit: every stage keeps at least one token. Any other size
    /// runs as in torchvision: the patch embedding (a stride-`patch` convolution) drops the
    /// rows and columns the patch does not divide, a token map the window does not divide is
    /// zero-padded to whole windows for the attention (and cropped back after it), and an odd
    /// map is zero-padded before merging.
    pub fn check_input(&self, [_, h, w]: [usize; 3]) -> Result<()> {
        for (i, [sh, sw]) in self.stage_sizes(h, w).into_iter().enumerate() {
            if sh == 0 || sw == 0 {
                let why = if i == 0 { format!("the {h}×{w} image is smaller than one {0}×{0} patch", self.patch) } else { format!("stage {} of a {h}×{w} image has no tokens left", i + 1) };
                return Err(Error::invalid(if i == 0 { "swin.patch" } else { "swin.depths" }, if i == 0 { self.patch } else { self.depths.len() }, why));
            }
        }
        Ok(())
    }
}

impl Spec for SwinSpec {
    fn validate(&self) -> Result<()> {
        ensure(self.patch > 0, "swin.patch", self.patch, "must be ≥ 1")?;
        ensure(self.window > 0, "swin.window", self.window, "must be ≥ 1")?;
        ensure(!self.depths.is_empty() && self.depths.iter().all(|&d| d > 0), "swin.depths", format!("{:?}", self.depths), "need ≥ 1 stage of ≥ 1 block")?;
        ensure(self.heads.len() == self.depths.len(), "swin.heads", format!("{:?}", self.heads), format!("need one head count per stage ({})", self.depths.len()))?;
        ensure(self.mlp_ratio > 0.0 && self.mlp_ratio.is_finite(), "swin.mlp_ratio", self.mlp_ratio, "must be > 0")?;
        for (i, &h) in self.heads.iter().enumerate() {
            let dim = self.embed << i;
            ensure(h > 0 && dim.is_multiple_of(h), "swin.heads", format!("{:?}", self.heads), format!("stage {} has width {dim}, which {h} heads do not divide", i + 1))?;
        }
        Ok(())
    }
    fn build(&self, input: [usize; 3], classes: usize, device: &Device) -> Result<Net> {
        self.check_input(input)?;
        Ok(Net::Swin(Swin::new(self, input, classes, device)))
    }
    fn label(&self) -> String {
        let named = [("Swin-T", SwinSpec::tiny()), ("Swin-S", SwinSpec::small()), ("Swin-B", SwinSpec::base()), ("Swin-L", SwinSpec::large())];
        match named.iter().find(|(_, s)| s == self) {
            Some((name, _)) => name.to_string(),
            None => format!("Swin (p{} w{}{} C{} {:?})", self.patch, self.window, if self.clip_windows { " clipped" } else { "" }, self.embed, self.depths),
        }
    }
    /// `swin-t`, `swin-s`, `swin-b`, `swin-l`, `swin-micro` (width 24), `swin-micro-wC`.
    fn parse(name: &str) -> Option<Result<Self>> {
        match name.split('-').collect::<Vec<_>>().as_slice() {
            ["swin", "t"] => Some(Ok(SwinSpec::tiny())),
            ["swin", "s"] => Some(Ok(SwinSpec::small())),
            ["swin", "b"] => Some(Ok(SwinSpec::base())),
            ["swin", "l"] => Some(Ok(SwinSpec::large())),
            ["swin", "micro"] => Some(Ok(SwinSpec::micro(24))),
            ["swin", "micro", w] if w.starts_with('w') => Some(super::number(name, &w[1..]).map(SwinSpec::micro)),
            ["swin", ..] => Some(Err(Error::invalid("arch", name, "expected swin-t, swin-s, swin-b, swin-l, swin-micro or swin-micro-wC"))),
            _ => None,
        }
    }
}
