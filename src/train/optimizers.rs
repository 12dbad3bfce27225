//! The optimisers of a run, owned by the trainer: one per name (`model` for the default step,
//! others — `g`, `d`, `step1` … — for methods that update several parts separately). They are
//! created on first use with the recipe's optimiser (SGD or AdamW), saved and restored with every checkpoint.
use super::TrainConfig;
use super::checkpoint;
use crate::error::Result;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

/// The name of the optimiser the default [`Method::step`](super::Method::step) uses.
pub const MAIN: &str = "model";

/// Named optimisers of one run.
pub struct Optimizers {
    recipe: TrainConfig,
    named: BTreeMap<String, ModuleOptimizer>,
}

impl Optimizers {
    /// None yet; each is built from `recipe` ([`TrainConfig::optimiser`]) when first used.
    pub fn new(recipe: &TrainConfig) -> Optimizers {
        Optimizers { recipe: recipe.clone(), named: BTreeMap::new() }
    }

    /// Registers an optimiser of another kind (Adam for a GAN) under `name`.
    pub fn insert(&mut self, name: &str, optim: ModuleOptimizer) {
        self.named.insert(name.into(), optim);
    }

    /// The optimiser `name`, built with the recipe's optimiser if it does not exist yet.
    pub fn get(&mut self, name: &str) -> &mut ModuleOptimizer {
        let recipe = &self.recipe;
        self.named.entry(name.into()).or_insert_with(|| recipe.optimiser())
    }

    /// Back-propagates `loss` and updates `module` in place with optimiser `name` at rate `lr`.
    /// Gradients reach only `module`'s parameters; anything else in the graph is left as it is.
    pub fn minimise<M: Module>(&mut self, name: &str, module: &mut M, loss: Tensor<1>, lr: f64) {
        let grads = GradientsParams::from_grads(loss.backward(), &*module);
        self.apply(name, module, grads, lr);
    }

    /// Updates `module` in place with gradients computed elsewhere.
    pub fn apply<M: Module>(&mut self, name: &str, module: &mut M, grads: GradientsParams, lr: f64) {
        *module = self.get(name).step(lr, module.clone(), grads);
    }

    /// Writes every optimiser as `dir/optim-<name>.bpk`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.named.iter().try_for_each(|(name, o)| checkpoint::save_optim(o, dir, &file(name)))
    }

    /// Restores every optimiser `save` wrote into `dir` (creating those not used yet).
    pub fn load(&mut self, dir: &Path) -> Result<()> {
        let entries = std::fs::read_dir(dir).map_err(crate::Error::io(dir))?;
        let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("optim-")?.strip_suffix(".bpk").map(String::from))).collect();
        names.sort();
        for name in names {
            let optim = self.get(&name);
            checkpoint::load_optim(optim, dir, &file(&name))?;
        }
        Ok(())
    }
}

fn file(name: &str) -> String {
    format!("optim-{name}.bpk")
}
