//! Online distillation (paper 2): OKDCR's readings on hand-checked values (consistency
//! distances, adaptive weights, the ramp, the ensemble target), the two-view loader, gradients
//! through every peer, ONE's gate, FFL's fusion of mixed peers, KDCL's MinLogit target, bad
//! input, and a short real run of every method.
mod common;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};
use common::{cpu, data_root};
use distillery::data::{Augment, Dataset, Loader};
use distillery::losses;
use distillery::methods::online::okdcr::{adaptive_weights, consistency, Okdcr};
use distillery::methods::online::{distance_rows, distill_towards, ffl, kdcl, one, ramp, sigmoid_rampup, Distance, Online, OnlineConfig, OnlineKind};
use distillery::methods::RunBuilder;
use distillery::models::{Arch, Staged};
use distillery::train::{devices, Method, StepCtx, TrainConfig};

fn fashion(train: usize) -> Dataset {
    Dataset::fashion_mnist_full(&data_root()).unwrap().subset(Some(train), Some(20), 0).unwrap()
}

fn rows(values: &[[f32; 3]]) -> Tensor<2> {
    let flat: Vec<f32> = values.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [values.len(), 3]), &cpu())
}

fn values(t: Tensor<1>) -> Vec<f64> {
    t.into_data().iter::<f32>().map(|v| v as f64).collect()
}

/// softmax(z/T) in f64, by hand.
fn soft(z: &[f64], t: f64) -> Vec<f64> {
    let e: Vec<f64> = z.iter().map(|v| (v / t).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

fn kl(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(a, b)| a * (a / b).ln()).sum()
}

#[test]
fn consistency_distances_equal_hand_values() {
    let (a, b) = ([1.0, 2.0, 3.0], [3.0, 0.5, 1.0]);
    for t in [1.0, 3.0] {
        let (p, q) = (soft(&a, t), soft(&b, t));
        let sym = 0.5 * (kl(&p, &q) + kl(&q, &p));
        let m: Vec<f64> = p.iter().zip(&q).map(|(x, y)| 0.5 * (x + y)).collect();
        let js = 0.5 * (kl(&p, &m) + kl(&q, &m));
        let za = rows(&[[1.0, 2.0, 3.0]]);
        let zb = rows(&[[3.0, 0.5, 1.0]]);
        let got_kl = values(distance_rows(za.clone(), zb.clone(), t, Distance::Kl))[0];
        let got_js = values(consistency(za.clone(), zb.clone(), t, Distance::Js))[0];
        assert!((got_kl - sym).abs() < 1e-5, "T={t}: symmetric KL {got_kl} vs hand {sym}");
        assert!((got_js - js).abs() < 1e-5, "T={t}: JS {got_js} vs hand {js}");
        // DML's KL(p_l ‖ p_k) at T = 1
        if t == 1.0 {
            let dml = values(losses::kl_logits(za, zb))[0];
            assert!((dml - kl(&p, &q)).abs() < 1e-5, "DML KL {dml} vs hand {}", kl(&p, &q));
        }
    }
    // a distance of a distribution to itself is zero
    let z = rows(&[[0.3, -1.0, 2.0]]);
    assert!(values(distance_rows(z.clone(), z, 3.0, Distance::Kl))[0].abs() < 1e-6);
}

#[test]
fn adaptive_weights_sum_to_one_and_favour_the_more_self_consistent_peer() {
    let d0 = Tensor::<1>::from_data(TensorData::new(vec![0.1f32, 0.4], [2]), &cpu());
    let d1 = Tensor::<1>::from_data(TensorData::new(vec![0.3f32, 0.4], [2]), &cpu());
    let w: Vec<f32> = adaptive_weights(&[d0, d1]).into_data().try_to_vec::<f32>().unwrap();
    // sample 0: d = (0.1, 0.3), mean 0.2 → softmax(−0.5, −1.5) = (0.7311, 0.2689)
    assert!((w[0] - 0.731_06).abs() < 1e-4 && (w[1] - 0.268_94).abs() < 1e-4, "{w:?}");
    // sample 1: equal distances → equal weights
    assert!((w[2] - 0.5).abs() < 1e-6 && (w[3] - 0.5).abs() < 1e-6, "{w:?}");
    for r in w.chunks(2) {
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}

#[test]
fn the_ensemble_ramp_is_min_one_of_1_25_s_over_s() {
    assert_eq!(ramp(1.25, 0, 100), 0.0);
    assert!((ramp(1.25, 40, 100) - 0.5).abs() < 1e-12);
    assert_eq!(ramp(1.25, 80, 100), 1.0);
    assert_eq!(ramp(1.25, 99, 100), 1.0);
    assert_eq!(ramp(0.0, 0, 100), 1.0, "r = 0 turns the ramp off");
}

#[test]
fn the_ensemble_target_is_detached() {
    let (_, ad) = devices(&cpu());
    let q = Tensor::<2>::from_data(TensorData::new(vec![0.2f32, 0.3, 0.5], [1, 3]), &ad).require_grad();
    let z = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, -1.0], [1, 3]), &ad).require_grad();
    let grads = distill_towards(q.clone(), z.clone(), 3.0).backward();
    assert!(q.grad(&grads).is_none(), "the ensemble target got a gradient");
    assert!(z.grad(&grads).is_some(), "the classifier got no gradient");
}

#[test]
fn two_views_differ_keep_the_label_and_leave_view_zero_as_it_was() {
    let data = fashion(10);
    let one = Loader::train(&data, 8, Augment::standard(false), 3);
    let two = one.clone().with_views(2);
    for (a, b) in one.epoch(0).zip(two.epoch(0)) {
        assert_eq!(a.images, b.images, "view 0 changed by asking for a second view");
        assert_eq!(a.labels, b.labels);
        assert_eq!(b.views.len(), 1);
        assert_ne!(b.views[0], b.images, "the second view is not a fresh augmentation");
        assert_eq!(b.views[0].len(), b.images.len());
    }
}

#[test]
fn okdcr_gradients_reach_every_extractor_and_both_classifiers() {
    let data = fashion(4);
    let config = OnlineConfig { peers: vec![Arch::convnet(4, 2), Arch::convnet(6, 2)], ..OnlineConfig::new(OnlineKind::Okdcr) };
    let mut m = Okdcr::new(&config, &data, &cpu(), 0).unwrap();
    assert_eq!(m.views(), 2);
    let batch = Loader::train(&data, 16, Augment::standard(false), 0).with_views(2).epoch(0).next().unwrap();
    let (plain, device) = devices(&cpu());
    let ctx = StepCtx { lr: 0.1, epoch: 0, epochs: 1, step: 5, total_steps: 10, device, plain, label_smoothing: 0.0 };
    let out = m.losses(&batch, &ctx).unwrap();
    for name in ["ce", "intra", "inter", "ens_kd"] {
        assert!(out.log.get(name).is_some_and(|v| v.is_finite() && v >= 0.0), "{name} missing: {:?}", out.log);
    }
    let w: f64 = (0..2).map(|k| out.log.get(&format!("w{k}")).unwrap()).sum();
    assert!((w - 1.0).abs() < 1e-5, "mean weights sum to {w}");
    let mut grads = out.total.backward();
    for (k, peer) in m.model().iter().enumerate() {
        let params = peer.net.num_params();
        let with_grad = GradientsParams::from_module(&mut grads, &peer.net);
        assert!(with_grad.len() >= 5 && params > 0, "peer {k}: only {} parameter tensors got a gradient", with_grad.len());
        let second = GradientsParams::from_module(&mut grads, peer.second.as_ref().unwrap());
        assert_eq!(second.len(), 2, "peer {k}: the second classifier's weight and bias need gradients");
    }
    // the consistency terms alone reach the extractor too (no CE involved)
    let peer = &m.model()[0];
    let views = peer.forward_views(batch.view(0, &ctx.device), batch.view(1, &ctx.device));
    let mut g = consistency(views[0].clone(), views[1].clone(), 3.0, Distance::Kl).backward();
    let reached = GradientsParams::from_module(&mut g, &peer.net).len();
    assert!(reached >= 5, "intra-model consistency reached only {reached} tensors of the extractor");
}

#[test]
fn one_gate_rows_sum_to_one_and_every_branch_is_evaluated() {
    let data = fashion(4);
    let config = OnlineConfig { peers: vec![Arch::convnet(4, 3); 3], ..OnlineConfig::new(OnlineKind::One) };
    let one = one::One::new(&config, &data, &cpu(), 0).unwrap();
    let (model, split) = one.parts();
    assert_eq!(split, 2);
    let x = Loader::test(&data, 8).epoch(0).next().unwrap().images(&devices(&cpu()).1);
    let g: Vec<f32> = one::gate_weights(model, split, x).into_data().try_to_vec::<f32>().unwrap();
    for r in g.chunks(3) {
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-5 && r.iter().all(|v| *v >= 0.0), "{r:?}");
    }
    let m = one.evaluate(&Loader::test(&data, 16), &devices(&cpu()).0);
    for k in ["peer0_acc", "peer1_acc", "peer2_acc", "avg_acc", "ens_acc"] {
        assert!(m.contains_key(k), "{k} missing from {m:?}");
    }
}

#[test]
fn ffl_fuses_mixed_peers_of_different_map_sizes() {
    let data = fashion(4);
    let config = OnlineConfig { peers: vec![Arch::convnet(8, 3), Arch::resnet(8)], ..OnlineConfig::new(OnlineKind::Ffl) };
    let f = ffl::Ffl::new(&config, &data, &cpu(), 0).unwrap();
    let model = f.model();
    let x = Loader::test(&data, 5).epoch(0).next().unwrap().images(&devices(&cpu()).1);
    let maps: Vec<Tensor<4>> = model.peers.iter().map(|p| p.forward_features(x.clone()).stages.last().unwrap().clone()).collect();
    assert_eq!(maps[0].dims(), [5, 8, 4, 4], "ConvNet-3 on 28 px (padded to 32)");
    assert_eq!(maps[1].dims(), [5, 64, 7, 7], "ResNet-8 on 28 px");
    assert_eq!(model.fusion.fuse(maps.clone()).dims(), [5, 64, 4, 4], "pooled to the smaller map, widest peer's channels");
    assert_eq!(model.fusion.forward(maps).dims(), [5, 10]);
}

/// The official ONE and FFL scripts multiply every KL term by `sigmoid_rampup(epoch, 80)` of
/// 300 epochs: exp(−5·(1 − e/80)²), constant within an epoch.
#[test]
fn one_and_ffl_ramp_their_kl_terms_as_the_official_code_does() {
    let official = OnlineConfig::new(OnlineKind::One).rampup;
    for (epoch, want) in [(0, (-5.0f64).exp()), (40, (-1.25f64).exp()), (80, 1.0), (299, 1.0)] {
        assert!((sigmoid_rampup(epoch, 300, official) - want).abs() < 1e-12, "epoch {epoch}");
    }
    // the same fraction of a 30-epoch run: L = 8 epochs, epoch 4 is half-way
    assert!((sigmoid_rampup(4, 30, official) - (-1.25f64).exp()).abs() < 1e-12);
    assert_eq!(sigmoid_rampup(0, 30, 0.0), 1.0, "0 turns the ramp off");
    let data = fashion(4);
    let batch = Loader::train(&data, 16, Augment::standard(false), 0).epoch(0).next().unwrap();
    let (plain, device) = devices(&cpu());
    for (epoch, want) in [(4, (-1.25f64).exp()), (20, 1.0)] {
        let ctx = StepCtx { lr: 0.1, epoch, epochs: 30, step: 0, total_steps: 30, device: device.clone(), plain: plain.clone(), label_smoothing: 0.0 };
        let config = OnlineConfig { peers: vec![Arch::convnet(4, 3); 2], ..OnlineConfig::new(OnlineKind::One) };
        let out = one::One::new(&config, &data, &cpu(), 0).unwrap().losses(&batch, &ctx).unwrap();
        let get = |k: &str| out.log.get(k).unwrap();
        assert!((get("ramp") - want).abs() < 1e-9, "ONE epoch {epoch}: ramp {}", get("ramp"));
        assert!((get("loss") - (get("ce") + get("ce_teacher") + want * get("kd"))).abs() < 1e-4, "ONE: total = CE + CE_t + w·KL, {:?}", out.log);
        let config = OnlineConfig { peers: vec![Arch::convnet(4, 3); 2], ..OnlineConfig::new(OnlineKind::Ffl) };
        let out = ffl::Ffl::new(&config, &data, &cpu(), 0).unwrap().losses(&batch, &ctx).unwrap();
        let get = |k: &str| out.log.get(k).unwrap();
        assert!((get("ramp") - want).abs() < 1e-9);
        assert!((get("loss") - (get("ce") + get("ce_fused") + want * (get("kd_to_fused") + get("kd_to_peers")))).abs() < 1e-4, "FFL: total = CE + CE_f + w·(KL + KL), {:?}", out.log);
    }
}

/// The official FFL network (`our_network.py`): the sub-networks share conv1 … layer2 and own
/// layer3; the fusion module is depthwise conv → BN → ReLU → 1×1 conv → BN → ReLU → fc.
#[test]
fn ffl_shares_the_stem_and_fuses_through_the_official_layers() {
    let data = fashion(4);
    let config = OnlineConfig { peers: vec![Arch::convnet(4, 3); 2], ..OnlineConfig::new(OnlineKind::Ffl) };
    let mut f = ffl::Ffl::new(&config, &data, &cpu(), 0).unwrap();
    assert_eq!(f.shared_from(), Some(2), "one architecture: stages 0–1 shared, the last stage each peer's own");
    // two ConvNet-3 w4 peers: 2C = 8 channels in, C = 4 out, 10 classes — the official module's
    // conv1 (8·9, no bias) + bn1 (γ, β, running mean and variance: 4·8) + conv1_1 (8·4, no bias)
    // + bn1_1 (4·4) + fc2 (4·10 + 10); without bn1 this is 32 fewer
    assert_eq!(f.model().fusion.num_params(), 72 + 32 + 32 + 16 + 50, "the official Fusion_module's layers");
    assert_eq!(f.nets().len(), 1, "with a shared stem only peer 0 is a whole network");
    // the shared stem: every peer-0 tensor learns, peer 1 only its last stage and classifier
    let batch = Loader::train(&data, 16, Augment::standard(false), 0).epoch(0).next().unwrap();
    let (plain, device) = devices(&cpu());
    let ctx = StepCtx { lr: 0.1, epoch: 10, epochs: 30, step: 0, total_steps: 30, device, plain, label_smoothing: 0.0 };
    let mut grads = f.losses(&batch, &ctx).unwrap().total.backward();
    let model = f.model();
    let (own, stem) = (GradientsParams::from_module(&mut grads, &model.peers[1]).len(), GradientsParams::from_module(&mut grads, &model.peers[0]).len());
    assert!(own > 0 && own < stem, "peer 1 trains {own} tensors, peer 0 (with the stem) {stem}");
    let m = f.evaluate(&Loader::test(&data, 16), &devices(&cpu()).0);
    assert!(m.contains_key("peer1_acc") && m.contains_key("ens_acc"));
    let independent = OnlineConfig { shared_stem: Some(false), ..config.clone() };
    assert_eq!(ffl::Ffl::new(&independent, &data, &cpu(), 0).unwrap().shared_from(), None);
    let mixed = OnlineConfig { peers: vec![Arch::convnet(4, 3), Arch::resnet(8)], ..config.clone() };
    assert_eq!(ffl::Ffl::new(&mixed, &data, &cpu(), 0).unwrap().shared_from(), None, "mixed peers cannot share: independent by default");
    let forced = OnlineConfig { shared_stem: Some(true), ..mixed };
    assert!(ffl::Ffl::new(&forced, &data, &cpu(), 0).err().unwrap().to_string().contains("shared_stem"));
}

#[test]
fn kdcl_min_logit_keeps_the_true_class_on_top_at_zero() {
    let a = rows(&[[2.0, 1.0, 0.0]]);
    let b = rows(&[[0.0, 3.0, 1.0]]);
    let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64], [1]), &cpu());
    let z: Vec<f32> = kdcl::min_logit(&[a, b], labels).into_data().try_to_vec::<f32>().unwrap();
    // a − a_y = (0, −1, −2), b − b_y = (0, 3, 1) → min = (0, −1, −2)
    assert_eq!(z, vec![0.0, -1.0, -2.0]);
}

#[test]
fn bad_online_settings_are_typed_errors_naming_the_value() {
    let data = fashion(4);
    let quick = TrainConfig::new().with_epochs(1).with_batch_size(16).with_verbose(false);
    let cases = [
        (Online::okdcr().peers([Arch::convnet(4, 2)]), "peers"),
        (Online::okdcr().peers(vec![Arch::convnet(4, 2); 2]).temperature(0.0), "temperature"),
        (Online::okdcr().peers(vec![Arch::convnet(4, 2); 2]).temperature(-3.0), "temperature"),
        (Online::okdcr().peers(vec![Arch::convnet(4, 2); 2]).consistency(-1.0), "consistency"),
        (Online::okdcr().peers(vec![Arch::convnet(4, 2); 2]).ensemble_weight(-0.5), "ensemble_weight"),
        (Online::kdcl().peers(vec![Arch::convnet(4, 2); 2]).kd_weight(f64::NAN), "kd_weight"),
        (Online::vanilla(3).peers(vec![Arch::convnet(4, 2); 2]), "classifiers"),
        (Online::one().peers([Arch::convnet(4, 2), Arch::resnet(8)]), "peers"),
        (Online::one().peers(vec![Arch::convnet(4, 2); 2]).branches(1), "branches"),
        (Online::ffl().peers(vec![Arch::convnet(4, 2); 2]).rampup(1.5), "rampup"),
        (Online::ffl().peers([Arch::convnet(4, 2), Arch::convnet(8, 2)]).shared_stem(true), "shared_stem"),
        (Online::dml().peers([Arch::convnet(4, 2), Arch::convnet(4, 7)]), "convnet.depth"),
    ];
    for (builder, field) in cases {
        let err = builder.train(quick.clone()).fit(&data, &cpu()).expect_err(field).to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
    assert!("okdcr".parse::<OnlineKind>().is_ok() && "2C".parse::<OnlineKind>().is_ok());
    assert!("dmll".parse::<OnlineKind>().unwrap_err().to_string().contains("dmll"));
}

#[test]
fn every_online_method_learns_and_records_avg_and_ens() {
    let data = fashion(40);
    // 4 epochs: FFL's fusion module starts from scratch and at 2 epochs sat at 0.28–0.36 on some
    // seeds and backends (flex and libtorch), 0.43–0.48 at 4
    let recipe = TrainConfig::new().with_epochs(4).with_batch_size(32).with_lr(0.05).with_verbose(false);
    let peers = [Arch::convnet(8, 3), Arch::convnet(8, 3)];
    for kind in OnlineKind::all() {
        let run = Online::method(kind).peers(peers.clone()).train(recipe.clone()).fit(&data, &cpu()).unwrap();
        let m = &run.record.final_metrics;
        let (avg, ens) = (m["avg_acc"], m["ens_acc"]);
        assert!(avg > 0.3 && ens > 0.3, "{}: Avg {avg} Ens {ens} — barely above chance (0.1)", kind.label());
        assert_eq!(m["test_acc"], m["peer0_acc"], "{}: the headline is peer 0", kind.label());
        let peer_accs: Vec<f64> = m.iter().filter(|(k, _)| k.starts_with("peer")).map(|(_, v)| *v).collect();
        assert_eq!(peer_accs.len(), if kind == OnlineKind::One { 3 } else { 2 }, "{}: ONE has the official 3 branches", kind.label());
        assert!((peer_accs.iter().sum::<f64>() / peer_accs.len() as f64 - avg).abs() < 1e-9);
        assert_eq!(run.model_names()[0], "peer0");
        // the returned network is what was evaluated
        let (acc, _) = distillery::train::evaluate_net(&run.model, &Loader::test(&data, 64), &devices(&cpu()).0);
        assert!((acc - m["peer0_acc"]).abs() < 1e-9, "{}: returned peer0 scores {acc}, record {}", kind.label(), m["peer0_acc"]);
        if kind == OnlineKind::Okdcr {
            for e in &run.record.epochs {
                assert!((e.metrics["w0"] + e.metrics["w1"] - 1.0).abs() < 1e-4, "weights per epoch sum to 1");
                assert!(e.metrics.contains_key("intra0") && e.metrics.contains_key("inter"));
            }
        }
    }
}

/// Rows of a logit tensor as f64 vectors.
fn matrix(t: Tensor<2>) -> Vec<Vec<f64>> {
    let [_, c] = t.dims();
    t.into_data().iter::<f32>().map(|v| v as f64).collect::<Vec<_>>().chunks(c).map(|r| r.to_vec()).collect()
}

#[test]
fn okdcr_loss_terms_equal_hand_values_on_the_peers_own_logits() {
    // the step's intra, inter, ensemble-KD terms and mean weights, recomputed in f64 from the
    // logits the peers give on the batch's two views (docs/okdcr.md, Eq. 2–5)
    let data = fashion(4);
    let config = OnlineConfig { peers: vec![Arch::convnet(4, 2), Arch::convnet(6, 2)], ..OnlineConfig::new(OnlineKind::Okdcr) };
    let mut m = Okdcr::new(&config, &data, &cpu(), 3).unwrap();
    let batch = Loader::train(&data, 12, Augment::standard(false), 0).with_views(2).epoch(0).next().unwrap();
    let (plain, device) = devices(&cpu());
    let ctx = StepCtx { lr: 0.1, epoch: 0, epochs: 1, step: 3, total_steps: 10, device, plain, label_smoothing: 0.0 };
    let z: Vec<Vec<Vec<Vec<f64>>>> = m.model().iter().map(|p| p.forward_views(batch.view(0, &ctx.device), batch.view(1, &ctx.device)).into_iter().map(matrix).collect()).collect();
    let out = m.losses(&batch, &ctx).unwrap();
    let t = 3.0;
    let n = z[0][0].len();
    let d = |a: &[f64], b: &[f64]| {
        let (p, q) = (soft(a, t), soft(b, t));
        0.5 * (kl(&p, &q) + kl(&q, &p))
    };
    let mean = |f: &dyn Fn(usize) -> f64| (0..n).map(f).sum::<f64>() / n as f64;
    // intra: Σ_k T²·mean_i D(z_k¹, z_k²)
    let intra_k: Vec<Vec<f64>> = z.iter().map(|zk| (0..n).map(|i| d(&zk[0][i], &zk[1][i])).collect()).collect();
    let intra: f64 = intra_k.iter().map(|r| t * t * r.iter().sum::<f64>() / n as f64).sum();
    // inter (K = 2): ½ Σ_j Σ_k Σ_{l≠k} T²·D(z_k^j, z_l^j) = Σ_j T²·D(z_0^j, z_1^j)
    let inter: f64 = (0..2).map(|j| t * t * mean(&|i| d(&z[0][j][i], &z[1][j][i]))).sum();
    // weights: softmax_k(−d_k / mean_k d_k) per sample; ensemble q = Σ_k w_k · ½(p_k¹ + p_k²)
    let w: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let (d0, d1) = (intra_k[0][i], intra_k[1][i]);
            let m = (d0 + d1) / 2.0 + 1e-8;
            let (e0, e1) = ((-d0 / m).exp(), (-d1 / m).exp());
            [e0 / (e0 + e1), e1 / (e0 + e1)]
        })
        .collect();
    let q: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let p: Vec<Vec<f64>> = (0..2).map(|k| soft(&z[k][0][i], t).iter().zip(soft(&z[k][1][i], t)).map(|(a, b)| 0.5 * (a + b)).collect()).collect();
            p[0].iter().zip(&p[1]).map(|(a, b)| w[i][0] * a + w[i][1] * b).collect()
        })
        .collect();
    // ensemble KD: Σ_k ½ Σ_j T²·mean_i KL(q ‖ p_k^j)
    let ens: f64 = (0..2).flat_map(|k| (0..2).map(move |j| (k, j))).map(|(k, j)| 0.5 * t * t * mean(&|i| kl(&q[i], &soft(&z[k][j][i], t)))).sum();
    for (name, hand) in [("intra", intra), ("inter", inter), ("ens_kd", ens), ("w0", mean(&|i| w[i][0])), ("w1", mean(&|i| w[i][1]))] {
        let got = out.log.get(name).unwrap();
        assert!((got - hand).abs() <= 1e-4 * hand.abs().max(1.0), "{name}: step {got} vs hand {hand}");
    }
    // total = CE + ramp·(λ(intra + inter) + ens), ramp = min(1, 1.25·3/10) = 0.375, λ = 1
    let ce = out.log.get("ce").unwrap();
    let total = out.log.get("loss").unwrap();
    assert!((total - (ce + 0.375 * (intra + inter + ens))).abs() < 1e-4, "total {total}");
}
