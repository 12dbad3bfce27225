//! How the OKDCR table's cpu regime was picked (`just okdcr-regime`): online distillation
//! transfers what peers know about their training set, so its table needs peers that fit it.
//! For each candidate (peer width, pad of the random crop, epochs) one seed of 1C, and with
//! `ROWS=all` also DML and OKDCR: peer 0's accuracy on the clean training images, its test
//! accuracy, the gap, and the row's Avg. `CANDIDATE=i` runs one candidate. Runs are checkpointed
//! under `out/okdcr-regime`, so a rerun reads them back.
use distillery::data::Augment;
use distillery::experiment::OkdcrExperiment;
use distillery::methods::online::OnlineKind;
use distillery::prelude::*;
use distillery::train::evaluate_net;

struct Candidate {
    width: usize,
    crop_pad: usize,
    epochs: usize,
}

fn main() -> distillery::Result<()> {
    let device = Device::auto();
    let all_rows = std::env::var("ROWS").is_ok_and(|v| v == "all");
    let only: Option<usize> = std::env::var("CANDIDATE").ok().and_then(|s| s.parse().ok());
    let candidates = [
        Candidate { width: 16, crop_pad: 4, epochs: 30 },
        Candidate { width: 64, crop_pad: 4, epochs: 30 },
        Candidate { width: 64, crop_pad: 2, epochs: 30 },
        Candidate { width: 64, crop_pad: 2, epochs: 60 },
        Candidate { width: 32, crop_pad: 2, epochs: 60 },
        Candidate { width: 16, crop_pad: 2, epochs: 60 },
        Candidate { width: 16, crop_pad: 4, epochs: 100 },
        Candidate { width: 32, crop_pad: 4, epochs: 100 },
    ];
    let mut table = Table::new("OKDCR regime candidates (Fashion-MNIST, 100 images per class, seed 0)", &["peers", "crop pad", "epochs", "row", "peer 0 train acc (%)", "peer 0 test acc (%)", "gap", "Avg (%)", "minutes"]);
    for (i, c) in candidates.iter().enumerate().filter(|(i, _)| only.is_none_or(|k| k == *i)) {
        let mut exp = OkdcrExperiment::new(Profile::Cpu);
        exp.peers = vec![Arch::convnet(c.width, 3); 2];
        exp.base.epochs = c.epochs;
        let data = exp.load_data()?;
        let augment = Augment { crop_pad: c.crop_pad, ..Augment::none() };
        let rows: &[OnlineKind] = if all_rows { &[OnlineKind::Vanilla { classifiers: 1 }, OnlineKind::Dml, OnlineKind::Okdcr] } else { &[OnlineKind::Vanilla { classifiers: 1 }] };
        for &kind in rows {
            let recipe = exp.train_config(&data).with_augment(augment.clone()).with_seed(0);
            let dir = format!("out/okdcr-regime/{i}-{}", kind.name());
            let started = std::time::Instant::now();
            let run = exp.method(kind).train(recipe).checkpoint_dir(dir).fit(&data, &device)?;
            let minutes = started.elapsed().as_secs_f64() / 60.0;
            let (train_acc, _) = evaluate_net(&run.model, &Loader::train(&data, 256, Augment::none(), 0), &device);
            let (test_acc, avg) = (run.test_acc(), run.record.final_metric("avg_acc").unwrap_or(f64::NAN));
            println!("w{} pad {} {} ep · {}: train {:.2} test {:.2} avg {:.2} ({minutes:.1} min)", c.width, c.crop_pad, c.epochs, kind.label(), train_acc * 100.0, test_acc * 100.0, avg * 100.0);
            let peers = format!("ConvNet-3 w{} ×2", c.width);
            table.push(vec![peers, c.crop_pad.to_string(), c.epochs.to_string(), kind.label(), format!("{:.2}", train_acc * 100.0), format!("{:.2}", test_acc * 100.0), format!("{:+.2}", (train_acc - test_acc) * 100.0), format!("{:.2}", avg * 100.0), format!("{minutes:.1}")]);
        }
    }
    println!("\n{}", table.markdown());
    Ok(())
}
