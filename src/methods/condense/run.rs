//! Learned condensation (DC, DSA, DM) on the shared trainer: the synthetic set is the model,
//! one outer iteration is one step, and an "epoch" is a block of iterations after which the
//! trainer records, checkpoints (images, momentum buffer, generator, per-iteration history) and
//! checks for cancellation — so a long run killed at iteration 900 resumes from its last block
//! and ends with the same images as an uninterrupted one.
use super::dsa_aug::Strategy;
use super::io::{npy_f32, read_npy_f32};
use super::{dc, dm, Algorithm, CondenseConfig, CondenseRecord, RealImages};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::models::Net;
use crate::record::{write_atomic, write_json_atomic};
use crate::rng::Rng;
use crate::train::{Method, Optimizers, StepCtx, StepLog, StepOutput};
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Blocks of iterations per run: at most ten, so a record and a checkpoint come every tenth of
/// the run (every iteration for runs of ten or fewer).
pub fn blocks(iterations: usize) -> (usize, usize) {
    let per = iterations.div_ceil(10).max(1);
    (iterations.div_ceil(per).max(1), per)
}

/// The synthetic images and the momentum buffer of their SGD (momentum 0.5, official code).
#[derive(Module, Debug)]
pub struct SyntheticSet {
    /// S, `[classes·ipc, C, H, W]`, normalised.
    pub images: Param<Tensor<4>>,
    /// The momentum buffer of S.
    pub velocity: Param<Tensor<4>>,
}

/// A condensation as a [`Method`].
pub struct Condensation {
    real: RealImages,
    config: CondenseConfig,
    strategy: Strategy,
    set: SyntheticSet,
    rng: Rng,
    record: CondenseRecord,
}

#[derive(Serialize, Deserialize)]
struct State {
    rng: u64,
    record: CondenseRecord,
}

impl Condensation {
    /// Starts from the initial images (real or noise, by `config.init`).
    pub fn new(real: RealImages, config: CondenseConfig, strategy: Strategy) -> Condensation {
        let mut rng = Rng::derive(config.seed, if config.method == Algorithm::Dm { 0xD3 } else { 0xDC });
        let images = dc::initial_images(&real, &config, &mut rng);
        let mut record = CondenseRecord::default();
        record.snapshot(0, &images);
        let set = SyntheticSet { velocity: Param::from_tensor(images.zeros_like()), images: Param::from_tensor(images) };
        Condensation { real, config, strategy, set, rng, record }
    }
    /// The images now.
    pub fn images(&self) -> Tensor<4> {
        self.set.images.val()
    }
    /// The per-iteration history and snapshots.
    pub fn into_record(self) -> CondenseRecord {
        self.record
    }
}

impl Method for Condensation {
    type Model = SyntheticSet;

    fn name(&self) -> String {
        self.config.method.name().into()
    }
    fn model(&self) -> &SyntheticSet {
        &self.set
    }
    fn model_mut(&mut self) -> &mut SyntheticSet {
        &mut self.set
    }
    /// Condensation returns images, not networks.
    fn nets(&self) -> Vec<(String, Net)> {
        Vec::new()
    }
    fn losses(&mut self, _batch: &Batch, _ctx: &StepCtx) -> Result<StepOutput> {
        Err(Error::invalid("method", self.name(), "condensation updates its images in `step` (its gradient is not a backward pass)"))
    }
    fn steps_per_epoch(&self, epoch: usize) -> Option<usize> {
        let (_, per) = blocks(self.config.iterations);
        Some(per.min(self.config.iterations.saturating_sub(epoch * per)))
    }

    /// Outer iteration `ctx.step`: DC/DSA gradient matching or DM distribution matching.
    fn step(&mut self, _batch: &Batch, ctx: &StepCtx, _optim: &mut Optimizers) -> Result<StepLog> {
        let start = Instant::now();
        let (it, syn, velocity) = (ctx.step, self.set.images.val(), self.set.velocity.val());
        let iterate = if self.config.method == Algorithm::Dm { dm::iteration } else { dc::iteration };
        let (syn, velocity, loss) = iterate(&self.real, &self.config, &self.strategy, syn, velocity, it, &mut self.rng, &ctx.plain)?;
        let seconds = start.elapsed().as_secs_f64();
        self.record.finish_iteration(it, &self.config, loss, seconds, &syn);
        self.set = SyntheticSet { images: Param::from_tensor(syn), velocity: Param::from_tensor(velocity) };
        Ok(StepLog { losses: vec![("loss".into(), loss)], metrics: vec![("seconds_per_iteration".into(), seconds)] })
    }

    fn save_state(&self, dir: &Path) -> Result<()> {
        write_json_atomic(&dir.join("condense.json"), &State { rng: self.rng.state(), record: self.record.clone() })?;
        let [n, c, h, w] = self.set.images.dims();
        let flat: Vec<f32> = self.record.snapshots.concat();
        write_atomic(&dir.join("snapshots.npy"), &npy_f32(&flat, &[self.record.snapshots.len(), n, c, h, w]))
    }

    fn load_state(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("condense.json");
        let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
        let state: State = serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, format!("not a condensation state: {e}")))?;
        let (shape, flat) = read_npy_f32(&dir.join("snapshots.npy"))?;
        let per: usize = shape.iter().skip(1).product();
        self.rng = Rng::from_state(state.rng);
        self.record = state.record;
        self.record.snapshots = flat.chunks(per.max(1)).map(<[f32]>::to_vec).collect();
        Ok(())
    }
}
