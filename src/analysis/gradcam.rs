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
use burn::tensor::{Tensor, TensorData};

/// Grad-CAM of `class` at stage `stage` (0-based) for `images` `[N, C, H, W]` → `[N, H, W]` in
/// [0, 1]. A stage index beyond the network's stages is an [`Error::Invalid`] naming `stage`.
pub fn grad_cam(net: &Net, images: Tensor<4>, stage: usize, class: usize) -> Result<Tensor<3>> {
    let n = images.dims()[0];
    grad_cam_per_image(net, images, stage, &vec![class; n])
}

/// [`grad_cam`] with one class per image, in one backward pass: the network runs in inference
/// mode, so the images do not interact and ∂(Σ_i y_i,class_i)/∂A_i is image i's own gradient.
pub fn grad_cam_per_image(net: &Net, images: Tensor<4>, stage: usize, classes: &[usize]) -> Result<Tensor<3>> {
    let plain = images.device();
    let [n, _, h, w] = images.dims();
    if classes.len() != n {
        return Err(Error::shape("grad_cam classes", [n], [classes.len()]));
    }
    let k = net.classifier().weight.dims()[1];
    if let Some(&class) = classes.iter().find(|&&class| class >= k) {
        return Err(Error::invalid("class", class, format!("the network has {k} classes")));
    }
    let (_, ad) = devices(&plain);
    let net_ad = net.clone().to_device(&ad);
    let x = Tensor::<4>::from_data(images.into_data(), &ad);
    let below = net_ad.stages_between(x, 0, stage + 1);
    if stage >= below.len() {
        return Err(Error::invalid("stage", stage, format!("the network has stages 0..{}", below.len())));
    }
    let act = below[stage].clone().detach().require_grad();
    let above = net_ad.stages_from(act.clone(), stage + 1);
    let last = above.last().cloned().unwrap_or_else(|| act.clone());
    let mut one_hot = vec![0.0f32; n * k];
    classes.iter().enumerate().for_each(|(i, &class)| one_hot[i * k + class] = 1.0);
    let one_hot = Tensor::<2>::from_data(TensorData::new(one_hot, [n, k]), &ad);
    let grads = (net_ad.head(last) * one_hot).sum().backward();
    let grad = act.grad(&grads).map(|g| Tensor::<4>::from_data(g.into_data(), &plain)).unwrap_or_else(|| Tensor::zeros(act.dims(), &plain));
    let act = Tensor::<4>::from_data(act.into_data(), &plain);
    let alpha = grad.mean_dims(&[2, 3]);
    let cam = burn::tensor::activation::relu((act * alpha).sum_dim(1));
    let cam = interpolate(cam, InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]));
    let peak = cam.clone().max_dims(&[1, 2, 3]).clamp_min(1e-12);
    Ok((cam / peak).reshape([n, h, w]))
}

/// Grad-CAM overlays: one row per `(label, net, stage)`, one column per image headed by its
/// class's name (`class_names[classes[i]]`), each image's map for its entry of `classes`, and a
/// colour scale.
pub fn grad_cam_figure(title: &str, rows: &[(String, &Net, usize)], images: Tensor<4>, classes: &[usize], class_names: &[String]) -> Result<Figure> {
    let [n, c, h, w] = images.dims();
    let mut pixels = Vec::new();
    let mut maps = Vec::new();
    let mut labels = Vec::new();
    let img: Vec<f32> = images.clone().into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| Error::invalid("images", "tensor", format!("{e:?}")))?;
    for (label, net, stage) in rows {
        let cam = grad_cam_per_image(net, images.clone(), *stage, classes)?;
        maps.extend(cam.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| Error::invalid("cam", "tensor", format!("{e:?}")))?);
        pixels.extend_from_slice(&img);
        labels.push(label.clone());
    }
    let heads: Vec<String> = classes.iter().map(|&k| class_names.get(k).cloned().unwrap_or_else(|| format!("class {k}"))).collect();
    crate::plot::heatmap_grid_columns(title, &pixels, [rows.len() * n, c, h, w], &maps, [h, w], n, &labels, &heads, 0.55)
}
