//! How the GAN-KD table's cpu regime was picked (`just gan-kd-regime`): the paper's method is a
//! regulariser, so its table needs a student that overfits. For each candidate (student, training
//! images per class, base augmentation, epochs) one seed of the no-augmentation row, and with
//! `ROWS=all` also Cutout, Mixup, CutMix and label smoothing: the clean training-set accuracy, the
//! test accuracy and their gap. Runs are checkpointed under `out/gan-kd-regime`, so a rerun reads
//! them back.
use distillery::data::{Augment, Mix};
use distillery::experiment::GanKdExperiment;
use distillery::prelude::*;
use distillery::train::evaluate_net;

struct Candidate {
    student: Arch,
    per_class: usize,
    base: bool,
    epochs: usize,
}

fn main() -> distillery::Result<()> {
    let device = Device::auto();
    let all_rows = std::env::var("ROWS").is_ok_and(|v| v == "all");
    let only: Option<usize> = std::env::var("CANDIDATE").ok().and_then(|s| s.parse().ok());
    let candidates = [
        Candidate { student: Arch::convnet(16, 3), per_class: 100, base: true, epochs: 30 },
        Candidate { student: Arch::convnet(64, 3), per_class: 100, base: true, epochs: 30 },
        Candidate { student: Arch::convnet(64, 3), per_class: 100, base: false, epochs: 30 },
        Candidate { student: Arch::convnet(64, 3), per_class: 50, base: false, epochs: 40 },
        Candidate { student: Arch::convnet(64, 3), per_class: 100, base: false, epochs: 60 },
    ];
    let exp = GanKdExperiment::new(Profile::Cpu);
    let mut table = Table::new("GAN-KD regime candidates (Fashion-MNIST, seed 0)", &["student", "train images", "base augmentation", "epochs", "row", "train acc (%)", "test acc (%)", "gap"]);
    for (i, c) in candidates.iter().enumerate().filter(|(i, _)| only.is_none_or(|k| k == *i)) {
        let data = exp.base.load_data_per_class(Some(c.per_class))?;
        let base = if c.base { Augment::standard(data.flippable) } else { Augment::none() };
        let mut rows = vec![("no augmentation", base.clone(), 0.0)];
        if all_rows {
            rows.extend([
                ("Cutout", base.clone().with_cutout(8), 0.0),
                ("Mixup", base.clone().with_mix(Mix::mixup()), 0.0),
                ("CutMix", base.clone().with_mix(Mix::cutmix()), 0.0),
                ("label smoothing", base.clone(), exp.smoothing),
            ]);
        }
        for (row, augment, smoothing) in rows {
            let recipe = exp.train_config(&data).with_epochs(c.epochs).with_augment(augment).with_label_smoothing(smoothing).with_seed(0);
            let dir = format!("out/gan-kd-regime/{i}-{}", row.replace(' ', "-"));
            let run = Supervised::builder().model(c.student.clone()).train(recipe).checkpoint_dir(dir).fit(&data, &device)?;
            let (train_acc, _) = evaluate_net(&run.model, &Loader::train(&data, 256, Augment::none(), 0), &device);
            let test_acc = run.test_acc();
            println!("{} {}/class base {} {} ep · {row}: train {:.2} test {:.2}", c.student, c.per_class, c.base, c.epochs, train_acc * 100.0, test_acc * 100.0);
            table.push(vec![c.student.to_string(), data.train.len().to_string(), if c.base { "crop + flip" } else { "none" }.into(), c.epochs.to_string(), row.into(), format!("{:.2}", train_acc * 100.0), format!("{:.2}", test_acc * 100.0), format!("{:+.2}", (train_acc - test_acc) * 100.0)]);
        }
    }
    println!("\n{}", table.markdown());
    Ok(())
}
