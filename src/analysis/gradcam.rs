//! Grad-CAM (Selvaraju et al., ICCV 2017) for any stage of any network of the zoo: with A the
//! stage's output `[C, h, w]` and y the class logit, α_c = mean_{ij} ∂y/∂A_cij (Eq. 1) and
//! L = ReLU(Σ_c α_c A_c) (Eq. 2), upsampled bilinearly to the image and scaled to [0, 1] per
//! image. Transformer stages are token maps laid out as `[C, h, w]` (the zoo's convention).
use crate::error::{Error, Result};
use crate::models::Net;
use crate::plot::Figure;
use crate::train::devices;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::module::Module;
use burn::tensor::Tensor;

/// Grad-CAM of `class` at stage `stage` (0-based) for `images` `[N, C, H, W]` → `[N, H, W]` in
/// [0, 1]. A stage index beyond the network's stages is an [`Error::Invalid`] naming `stage`.
pub fn grad_cam(net: &Net, images: Tensor<4>, stage: usize, class: usize) -> Result<Tensor<3>> {
    let plain = images.device();
    let [n, _, h, w] = images.dims();
    let stages = net.stages_from(images.clone(), 0).len();
    if stage >= stages {
        return Err(Error::invalid("stage", stage, format!("the network has stages 0..{stages}")));
    }
    let classes = net.classifier().weight.dims()[1];
    if class >= classes {
        return Err(Error::invalid("class", class, format!("the network has {classes} classes")));
    }
    let (_, ad) = devices(&plain);
    let net_ad = net.clone().to_device(&ad);
    let x = Tensor::<4>::from_data(images.into_data(), &ad);
    let below = net_ad.stages_between(x, 0, stage + 1);
    let act = below[stage].clone().detach().require_grad();
    let above = net_ad.stages_from(act.clone(), stage + 1);
    let last = above.last().cloned().unwrap_or_else(|| act.clone());
    let score = net_ad.head(last).narrow(1, class, 1).sum();
    let grads = score.backward();
    let grad = act.grad(&grads).map(|g| Tensor::<4>::from_data(g.into_data(), &plain)).unwrap_or_else(|| Tensor::zeros(act.dims(), &plain));
    let act = Tensor::<4>::from_data(act.into_data(), &plain);
    let alpha = grad.mean_dims(&[2, 3]);
    let cam = burn::tensor::activation::relu((act * alpha).sum_dim(1));
    let cam = interpolate(cam, InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]));
    let peak = cam.clone().max_dims(&[1, 2, 3]).clamp_min(1e-12);
    Ok((cam / peak).reshape([n, h, w]))
}

/// Grad-CAM overlays: one row per `(label, net)`, one column per image, for the predicted-or-
/// true `classes` (one per image) at `stage`.
pub fn grad_cam_figure(title: &str, rows: &[(String, &Net, usize)], images: Tensor<4>, classes: &[usize]) -> Result<Figure> {
    let [n, c, h, w] = images.dims();
    let mut pixels = Vec::new();
    let mut maps = Vec::new();
    let mut labels = Vec::new();
    let img: Vec<f32> = images.clone().into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| Error::invalid("images", "tensor", format!("{e:?}")))?;
    for (label, net, stage) in rows {
        let mut row = Vec::with_capacity(n * h * w);
        for (i, &class) in classes.iter().enumerate().take(n) {
            let one = images.clone().narrow(0, i, 1);
            let cam = grad_cam(net, one, *stage, class)?;
            row.extend(cam.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| Error::invalid("cam", "tensor", format!("{e:?}")))?);
        }
        maps.extend(row);
        pixels.extend_from_slice(&img);
        labels.push(label.clone());
    }
    crate::plot::heatmap_grid(title, &pixels, [rows.len() * n, c, h, w], &maps, [h, w], n, &labels, 0.55)
}
