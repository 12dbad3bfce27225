//! Coreset baselines: `ipc` real images per class picked at random, or by herding (Welling 2009;
//! the greedy form of iCaRL, Rebuffi et al. 2017): each next image is the one that brings the
//! mean feature of the chosen images closest to the class's mean feature.
use super::{CondenseConfig, RealImages};
use crate::data::Dataset;
use crate::error::Result;
use crate::methods::supervised::Supervised;
use crate::methods::{JobBuilder, RunBuilder};
use crate::models::{Arch, Net, Staged};
use crate::rng::Rng;
use burn::tensor::{Device, Tensor};

/// `ipc` random real images of every class, `[classes·ipc, C, H, W]`.
pub fn random(real: &RealImages, ipc: usize, seed: u64) -> Tensor<4> {
    let mut rng = Rng::derive(seed, 0x5A);
    Tensor::cat((0..real.classes()).map(|c| real.sample(c, ipc, &mut rng)).collect(), 0)
}

/// Herding selection on the features (last stage, flattened) of `net`.
pub fn herding(real: &RealImages, net: &Net, ipc: usize) -> Tensor<4> {
    let picked = (0..real.classes())
        .map(|c| {
            let features = features(net, &real.by_class[c]);
            let chosen: Vec<i64> = herd(&features, ipc).into_iter().map(|i| i as i64).collect();
            real.pick(c, &chosen)
        })
        .collect();
    Tensor::cat(picked, 0)
}

/// Rows of `[n, d]` features, computed in chunks.
fn features(net: &Net, images: &Tensor<4>) -> Vec<Vec<f32>> {
    let n = images.dims()[0];
    let mut rows = Vec::with_capacity(n);
    for start in (0..n).step_by(256) {
        let x = images.clone().slice(start..(start + 256).min(n));
        let last = net.forward_features(x).stages.pop().expect("a stage");
        let f = last.flatten::<2>(1, 3);
        let d = f.dims()[1];
        let v = f.into_data().try_to_vec::<f32>().unwrap_or_default();
        rows.extend(v.chunks(d).map(<[f32]>::to_vec));
    }
    rows
}

/// Greedy herding: indices of `k` rows whose running mean tracks the mean of all rows.
pub fn herd(rows: &[Vec<f32>], k: usize) -> Vec<usize> {
    let d = rows.first().map_or(0, Vec::len);
    let n = rows.len() as f32;
    let mu: Vec<f32> = (0..d).map(|j| rows.iter().map(|r| r[j]).sum::<f32>() / n).collect();
    let mut sum = vec![0.0f32; d];
    let mut chosen = Vec::with_capacity(k);
    for step in 1..=k.min(rows.len()) {
        let best = (0..rows.len())
            .filter(|i| !chosen.contains(i))
            .map(|i| {
                let dist: f32 = (0..d).map(|j| (mu[j] - (sum[j] + rows[i][j]) / step as f32).powi(2)).sum();
                (i, dist)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
            .expect("rows left");
        for j in 0..d {
            sum[j] += rows[best][j];
        }
        chosen.push(best);
    }
    chosen
}

/// Herding's default feature extractor: the matching ConvNet trained on the real training split
/// with the profile's recipe for a 12-epoch paper run.
pub fn train_feature_net(data: &Dataset, config: &CondenseConfig, device: &Device) -> Result<Net> {
    let run = Supervised::builder()
        .model(Arch::convnet(config.width, config.depth))
        .train(config.profile.train(12))
        .name("herding features")
        .fit(data, device)?;
    Ok(run.model)
}

#[cfg(test)]
mod tests {
    use super::herd;

    #[test]
    fn herding_first_picks_the_row_nearest_the_mean_then_balances() {
        let rows = vec![vec![0.0, 0.0], vec![10.0, 0.0], vec![4.0, 0.0], vec![6.0, 0.0]];
        // mean 5: nearest single row is 4 or 6 (tie → first, 4); then 6 brings the mean to 5
        let chosen = herd(&rows, 2);
        assert_eq!(chosen, vec![2, 3]);
    }
}
