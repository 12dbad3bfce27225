//! Batching: seeded shuffling, u8 → normalised f32, augmentation, and prefetch on a background
//! thread (the next batches are prepared while the current one trains).
use super::{augment, Augment, Dataset, Split};
use crate::rng::Rng;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::sync::mpsc::{sync_channel, Receiver};

/// One batch on the host.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Normalised images, `[n, C, H, W]` flattened.
    pub images: Vec<f32>,
    /// `[n, C, H, W]`.
    pub shape: [usize; 4],
    /// Hard labels.
    pub labels: Vec<usize>,
    /// Soft targets `[n, classes]` when Mixup/CutMix mixed the batch.
    pub mixed: Option<Vec<f32>>,
    /// Number of classes.
    pub classes: usize,
    /// Indices of the samples in their split.
    pub indices: Vec<usize>,
    /// Further views of the same samples, each augmented by its own random draws (never mixed),
    /// when the loader was asked for more than one ([`Loader::with_views`]).
    pub views: Vec<Vec<f32>>,
}

impl Batch {
    /// A batch without samples (the steps of methods that do not read training batches).
    pub fn empty(classes: usize) -> Batch {
        Batch { images: Vec::new(), shape: [0; 4], labels: Vec::new(), mixed: None, classes, indices: Vec::new(), views: Vec::new() }
    }
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Images as a tensor on `device`.
    pub fn images(&self, device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(self.images.clone(), self.shape), device)
    }
    /// View `v` of the images on `device`: view 0 is [`Batch::images`], views 1.. are the extra
    /// augmented views (an error-free fallback to view 0 when the batch has fewer views, so that
    /// a batch built by hand still runs a multi-view method).
    pub fn view(&self, v: usize, device: &Device) -> Tensor<4> {
        match v.checked_sub(1).and_then(|i| self.views.get(i)) {
            Some(images) => Tensor::from_data(TensorData::new(images.clone(), self.shape), device),
            None => self.images(device),
        }
    }
    /// Labels as an int tensor on `device`.
    pub fn labels(&self, device: &Device) -> Tensor<1, Int> {
        let v: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        Tensor::from_data(TensorData::new(v, [self.len()]), device)
    }
    /// Target distributions `[n, classes]`: the mixed targets if any, else the one-hot labels,
    /// smoothed by `smoothing` ε in both cases ((1−ε)·target + ε/K).
    pub fn targets(&self, device: &Device, smoothing: f64) -> Tensor<2> {
        Tensor::from_data(TensorData::new(self.target_values(smoothing), [self.len(), self.classes]), device)
    }

    /// The values of [`Batch::targets`], row-major.
    pub fn target_values(&self, smoothing: f64) -> Vec<f32> {
        let k = self.classes;
        let hard = || {
            let mut t = vec![0f32; self.len() * k];
            for (i, &l) in self.labels.iter().enumerate() {
                t[i * k + l] = 1.0;
            }
            t
        };
        let t = self.mixed.clone().unwrap_or_else(hard);
        t.into_iter().map(|v| ((1.0 - smoothing) * v as f64 + smoothing / k as f64) as f32).collect()
    }
}

/// Produces batches of a split, epoch by epoch.
#[derive(Clone, Debug)]
pub struct Loader {
    split: Split,
    classes: usize,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    augment: Augment,
    mean: Vec<f32>,
    std: Vec<f32>,
    prefetch: usize,
    views: usize,
}

impl Loader {
    /// A shuffling, augmenting loader over the training split.
    pub fn train(data: &Dataset, batch_size: usize, augment: Augment, seed: u64) -> Loader {
        Loader::over(data, data.train.clone(), batch_size, true, augment, seed)
    }
    /// An in-order, unaugmented loader over the test split.
    pub fn test(data: &Dataset, batch_size: usize) -> Loader {
        Loader::over(data, data.test.clone(), batch_size, false, Augment::none(), 0)
    }
    /// A loader over any split normalised like `data`.
    pub fn over(data: &Dataset, split: Split, batch_size: usize, shuffle: bool, augment: Augment, seed: u64) -> Loader {
        Loader {
            split,
            classes: data.num_classes(),
            batch_size: batch_size.max(1),
            shuffle,
            seed,
            augment,
            mean: data.mean.clone(),
            std: data.std.clone(),
            prefetch: 2,
            views: 1,
        }
    }
    /// Every batch also carries `views − 1` further views of its samples, each normalised and
    /// augmented with independent draws (after the first view's, so view 0 is what a one-view
    /// loader gives); Mixup/CutMix apply to view 0 only.
    pub fn with_views(mut self, views: usize) -> Loader {
        self.views = views.max(1);
        self
    }
    /// Batches in one epoch (the last may be short).
    pub fn batches_per_epoch(&self) -> usize {
        self.split.len().div_ceil(self.batch_size)
    }
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.split.len()
    }
    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.split.is_empty()
    }
    /// The split.
    pub fn split(&self) -> &Split {
        &self.split
    }

    /// Sample order of `epoch` (deterministic in seed and epoch).
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.split.len()).collect();
        if self.shuffle {
            Rng::derive(self.seed, epoch as u64).shuffle(&mut order);
        }
        order
    }

    /// Builds batch `b` of an epoch's `order` on the calling thread.
    pub fn make_batch(&self, order: &[usize], b: usize, rng: &mut Rng) -> Batch {
        let idx = &order[b * self.batch_size..((b + 1) * self.batch_size).min(order.len())];
        let shape = self.split.shape;
        let hw = shape[1] * shape[2];
        let per = self.split.image_len();
        let mut images = vec![0f32; idx.len() * per];
        for (k, &i) in idx.iter().enumerate() {
            let dst = &mut images[k * per..(k + 1) * per];
            super::normalise_image(self.split.image(i), hw, &self.mean, &self.std, dst);
            self.augment.apply_sample(dst, shape, rng);
        }
        let labels: Vec<usize> = idx.iter().map(|&i| self.split.label(i)).collect();
        let mixed = self.augment.mix.and_then(|m| augment::mix_batch(m, &mut images, shape, &labels, self.classes, rng));
        // the extra views draw from their own stream, so view 0 stays what a one-view loader gives
        let mut view_rng = Rng::derive(rng.state() ^ 0x005E_ED0F_7E35, b as u64);
        let views = (1..self.views)
            .map(|_| {
                let mut view = vec![0f32; idx.len() * per];
                for (k, &i) in idx.iter().enumerate() {
                    let dst = &mut view[k * per..(k + 1) * per];
                    super::normalise_image(self.split.image(i), hw, &self.mean, &self.std, dst);
                    self.augment.apply_sample(dst, shape, &mut view_rng);
                }
                view
            })
            .collect();
        Batch { images, shape: [idx.len(), shape[0], shape[1], shape[2]], labels, mixed, classes: self.classes, indices: idx.to_vec(), views }
    }

    /// The batches of `epoch`, prepared on a background thread `prefetch` batches ahead.
    pub fn epoch(&self, epoch: usize) -> Batches {
        let me = self.clone();
        Batches::spawn(self.prefetch, move |tx| {
            let order = me.order(epoch);
            let mut rng = Rng::derive(me.seed ^ 0xA5A5, epoch as u64);
            for b in 0..me.batches_per_epoch() {
                if tx.send(me.make_batch(&order, b, &mut rng)).is_err() {
                    return; // the consumer stopped early
                }
            }
        })
    }
}

/// Iterator over prefetched batches. A panic while preparing a batch never passes for the end of
/// the epoch: [`Batches::next_checked`] returns it as an error, and plain iteration panics with
/// it in the consumer (so no evaluation reports accuracy on part of a test set).
pub struct Batches {
    rx: Receiver<Batch>,
    producer: Option<std::thread::JoinHandle<()>>,
}

impl Batches {
    /// Runs `produce` on a background thread that sends batches at most `ahead` in advance.
    pub fn spawn(ahead: usize, produce: impl FnOnce(std::sync::mpsc::SyncSender<Batch>) + Send + 'static) -> Batches {
        let (tx, rx) = sync_channel(ahead);
        let producer = std::thread::Builder::new().name("distillery batches".into()).spawn(move || produce(tx)).expect("spawn the batch thread");
        Batches { rx, producer: Some(producer) }
    }

    /// The next batch, `None` at the end of the epoch, or an error if the thread preparing the
    /// batches panicked (its message).
    pub fn next_checked(&mut self) -> crate::Result<Option<Batch>> {
        match self.rx.recv() {
            Ok(batch) => Ok(Some(batch)),
            Err(_) => match self.producer.take().map(|p| p.join()) {
                Some(Err(panic)) => Err(crate::Error::Panicked { run: "batch preparation".into(), message: crate::models::panic_message(&*panic) }),
                _ => Ok(None),
            },
        }
    }
}

impl Iterator for Batches {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        match self.next_checked() {
            Ok(batch) => batch,
            Err(e) => panic!("{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Batch {
        Batch::empty(10)
    }

    #[test]
    fn a_panic_while_preparing_batches_is_an_error_not_the_end_of_the_epoch() {
        let mut batches = Batches::spawn(1, |tx| {
            tx.send(batch()).unwrap();
            panic!("crop larger than the image");
        });
        assert!(batches.next_checked().unwrap().is_some(), "the batch made before the panic");
        let e = batches.next_checked().unwrap_err().to_string();
        assert!(e.contains("crop larger than the image"), "{e}");
        // plain iteration re-raises it in the consumer instead of ending quietly
        let quiet = std::panic::catch_unwind(|| Batches::spawn(1, |_| panic!("bad augment")).count());
        let message = crate::models::panic_message(&*quiet.unwrap_err());
        assert!(message.contains("bad augment"), "{message}");
        // a producer that finishes is the end of the epoch
        let mut done = Batches::spawn(2, |tx| {
            tx.send(batch()).unwrap();
        });
        assert!(done.next_checked().unwrap().is_some());
        assert!(done.next_checked().unwrap().is_none());
    }
}
