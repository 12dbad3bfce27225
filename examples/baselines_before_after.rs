//! The baselines as their authors wrote them, against what they were before (`just
//! baselines-before-after`): the OKDCR table's cpu setting for ONE and FFL, the GAN-KD table's
//! cpu setting for CutMix, 3 seeds, every row paired with its reference seed by seed (95 %
//! Student-t intervals). "before" rebuilds the earlier behaviour with today's switches:
//! ONE without the ramp-up; FFL without the ramp-up on independent peers (its fusion module now
//! has the official BN → ReLU after the depthwise conv, which has no switch); CutMix with a box
//! per image on every batch (the GAN-KD table's recipe and student, against no augmentation). Runs are checkpointed under `out/baselines`, so a rerun reads them
//! back.
use distillery::data::Mix;
use distillery::experiment::{GanKdExperiment, OkdcrExperiment};
use distillery::methods::online::OnlineKind;
use distillery::prelude::*;
use distillery::train::Comparison;

fn main() -> distillery::Result<()> {
    let device = Device::auto();
    let profile = Profile::Cpu;
    let seeds = std::env::var("SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3u64);
    let out = std::path::PathBuf::from("out/baselines");

    let okdcr = OkdcrExperiment::new(profile);
    let data = okdcr.load_data()?;
    let recipe = okdcr.train_config(&data);
    let online = |label: &str, kind: OnlineKind, tweak: fn(distillery::methods::online::OnlineBuilder) -> distillery::methods::online::OnlineBuilder| {
        let (recipe, data, okdcr, dir, device) = (recipe.clone(), &data, &okdcr, out.join("okdcr").join(label.replace(' ', "-")), &device);
        move |seed: u64| tweak(okdcr.method(kind)).train(recipe.clone().with_seed(seed)).checkpoint_dir(dir.join(seed.to_string())).fit(data, device)
    };
    let c = Comparison::of(format!("ONE and FFL before/after on {} (cpu profile)", data.name))
        .seeds(0..seeds)
        .baseline("DML")
        .method("DML", online("DML", OnlineKind::Dml, |b| b))
        .method("ONE", online("ONE", OnlineKind::One, |b| b))
        .method("ONE before", online("ONE before", OnlineKind::One, |b| b.rampup(0.0)))
        .method("FFL", online("FFL", OnlineKind::Ffl, |b| b))
        .method("FFL before", online("FFL before", OnlineKind::Ffl, |b| b.rampup(0.0).shared_stem(false)))
        .run()?;
    println!("\n{}", c.table("avg_acc").markdown());
    for (after, before) in [("ONE", "ONE before"), ("FFL", "FFL before")] {
        println!("{after} − {before} (Avg): {}", c.paired(after, before, "avg_acc").map_or("–".into(), |d| d.to_string()));
    }
    c.save(out.join("okdcr.json"))?;

    let gan_kd = GanKdExperiment::new(profile);
    let data = gan_kd.load_data()?;
    let recipe = gan_kd.train_config(&data);
    let supervised = |label: &str, mix: Option<Mix>| {
        let mut augment = recipe.augment.clone();
        augment.mix = mix;
        let (recipe, data, student, dir, device) = (recipe.clone().with_augment(augment), &data, gan_kd.student.clone(), out.join("gan-kd").join(label.replace(' ', "-")), &device);
        move |seed: u64| Supervised::builder().model(student.clone()).train(recipe.clone().with_seed(seed)).checkpoint_dir(dir.join(seed.to_string())).fit(data, device)
    };
    let c = Comparison::of(format!("CutMix before/after on {} (cpu profile)", data.name))
        .seeds(0..seeds)
        .method("no augmentation", supervised("no augmentation", None))
        .method("CutMix", supervised("CutMix", Some(Mix::cutmix())))
        .method("CutMix before", supervised("CutMix before", Some(Mix::CutMix { alpha: 1.0, prob: 1.0, per_image: true })))
        .run()?;
    println!("\n{}", c.table("test_acc").markdown());
    println!("CutMix − CutMix before: {}", c.paired("CutMix", "CutMix before", "test_acc").map_or("–".into(), |d| d.to_string()));
    c.save(out.join("gan-kd.json"))
}
