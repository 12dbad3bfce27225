//! The notebook layer without a notebook: background jobs, sweeps, plots and tables.
mod common;
use common::{cpu, tmp_dir};
use distillery::methods::{supervised::Supervised, JobBuilder, RunBuilder};
use distillery::plot::{self, Bar, Normalise, Series};
use distillery::prelude::*;
use distillery::train::Status;

fn tiny() -> Dataset {
    Dataset::shapes_sized(6, 3, 0).unwrap()
}

fn quick(epochs: usize) -> TrainConfig {
    TrainConfig::new().with_epochs(epochs).with_batch_size(16).with_verbose(false)
}

#[test]
fn a_job_trains_in_the_background_and_wait_returns_the_run() {
    let data = tiny();
    let job = Supervised::builder().model(Arch::mlp(16, 1)).train(quick(3)).name("bg").spawn(&data, &cpu());
    let run = job.wait().unwrap();
    assert_eq!(run.record.epochs.len(), 3);
    assert_eq!(run.record.status, Status::Completed);
}

#[test]
fn a_cancelled_job_stops_after_a_step_and_keeps_its_record() {
    let data = tiny();
    let job = Supervised::builder().model(Arch::convnet(8, 2)).train(quick(10_000)).name("long").spawn(&data, &cpu());
    let started = std::time::Instant::now();
    while job.record().epochs.is_empty() {
        assert!(started.elapsed().as_secs() < 120, "no epoch finished within 120 s: {}", job.status());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(job.status().contains("running"), "{}", job.status());
    assert!(job.plot().svg.contains("<svg"));
    job.cancel();
    let record_before_wait = job.record();
    let err = job.wait().unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    assert!(!record_before_wait.epochs.is_empty() && record_before_wait.epochs.len() < 10_000);
}

#[test]
fn a_seeded_sweep_reports_mean_and_std_and_reloads() {
    let data = tiny();
    let sweep = Sweep::over("lr", [0.01, 0.1])
        .seeds([0, 1])
        .verbose(false)
        .run_seeded(|lr, seed| Supervised::builder().model(Arch::mlp(16, 1)).train(quick(2)).lr(lr).seed(seed).fit(&data, &cpu()))
        .unwrap();
    assert_eq!(sweep.points.len(), 4);
    let table = sweep.table("test_acc");
    assert_eq!(table.rows.len(), 2);
    assert_eq!(table.rows[0][2], "2", "two seeds per point");
    assert!(table.rows[0][1].contains('±'));
    // one seed has no spread: the table says n = 1 instead of a made-up ± 0.00
    let single = Sweep::over("lr", [0.1]).verbose(false).run(|lr| Supervised::builder().model(Arch::mlp(16, 1)).train(quick(1)).lr(lr).fit(&data, &cpu())).unwrap();
    let cell = &single.table("test_acc").rows[0][1];
    assert!(cell.ends_with("(n = 1)") && !cell.contains('±'), "{cell}");
    assert!(sweep.plot("test_acc").svg.contains("<svg"));
    let tmp = tmp_dir("sweep");
    let path = tmp.join("s.json");
    sweep.save(&path).unwrap();
    let back = Sweep::load(&path).unwrap();
    assert_eq!(back, sweep);
    assert_eq!(back.table("test_acc"), table, "a reloaded sweep re-plots without re-running");
}

#[test]
fn a_grid_sweep_draws_one_line_per_second_axis_value() {
    let data = tiny();
    let sweep = Sweep::grid(("lr", vec![0.01, 0.05]), ("epochs", vec![1.0, 2.0]))
        .verbose(false)
        .run_grid(|lr, e| Supervised::builder().model(Arch::mlp(8, 1)).train(quick(e as usize)).lr(lr).fit(&data, &cpu()))
        .unwrap();
    assert_eq!(sweep.points.len(), 4);
    let svg = sweep.plot("test_acc").svg;
    assert!(svg.contains("epochs = 1") && svg.contains("epochs = 2"), "legend per line");
}

#[test]
fn bad_sweeps_and_bad_files_are_typed_errors() {
    let e = Sweep::over("T", Vec::<f64>::new()).run(|_| unreachable!()).unwrap_err();
    assert!(matches!(&e, Error::Invalid { field, .. } if field == "sweep.T"), "{e}");
    let e = Sweep::over("T", [1.0]).seeds([]).run(|_| unreachable!()).unwrap_err();
    assert!(e.to_string().contains("seeds"), "{e}");
    let tmp = tmp_dir("bad-sweep");
    let path = tmp.join("x.json");
    std::fs::write(&path, "[]").unwrap();
    assert!(Sweep::load(&path).unwrap_err().to_string().contains("x.json"));
    // a well-formed but empty sweep is refused on load instead of panicking when plotted
    std::fs::write(&path, r#"{"axes": [], "points": []}"#).unwrap();
    assert!(matches!(Sweep::load(&path), Err(Error::Format { .. })));
    let e = distillery::methods::condense::Evaluation::load(&path).unwrap_err();
    assert!(e.to_string().contains("x.json"), "{e}");
    std::fs::write(&path, r#"{"method": "DSA", "ipc": 1, "dataset": "mnist", "results": []}"#).unwrap();
    assert!(distillery::methods::condense::Evaluation::load(&path).unwrap_err().to_string().contains("results"));
}

/// Standard base64 back to bytes.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).map(value).collect();
    digits.chunks(4).flat_map(|q| {
        let n = q.iter().enumerate().fold(0u32, |n, (i, &d)| n | (d as u32) << (18 - 6 * i));
        (0..q.len() - 1).map(move |k| (n >> (16 - 8 * k)) as u8)
    }).collect()
}

#[test]
fn figures_and_panels_render() {
    let bars = plot::bars("methods", "acc (%)", &[Bar::from_values("KD", &[80.0, 82.0, 81.0]).with_reference(83.0), Bar::new("alone", 79.0, 0.0)]);
    assert!(bars.svg.contains("<svg") && bars.svg.contains("KD") && bars.svg.contains("81.00"));
    let lines = plot::lines("sweep", "T", "acc", &[Series { name: "kd".into(), points: vec![(1.0, 80.0, 1.0), (8.0, 82.0, 0.5)] }], true);
    assert!(lines.svg.contains("polyline"));
    let data = tiny();
    let preview = data.preview(2);
    assert!(preview.svg.contains("data:image/png;base64") && preview.svg.contains("h-stripes"));
    let grid = plot::image_grid("g", &[0.5; 2 * 3 * 4 * 4], [2, 3, 4, 4], 2, &[], Normalise::PerGrid).unwrap();
    assert!(grid.svg.contains("<image"));
    let panel = Panel::new().figure(bars).figure(lines).table(Table::new("t", &["a"]));
    // one output per cell: the two figures composed into one PNG + SVG, the table as text beside it
    let bundle = panel.bundle();
    assert_eq!(bundle.mimes(), ["image/png", "image/svg+xml", "text/plain"]);
    let png = decode_base64(bundle.get("image/png").unwrap());
    let image = image::load_from_memory(&png).expect("a PNG");
    let (w, h) = panel.figure_of_all().unwrap().size();
    assert_eq!((image.width(), image.height()), ((2.0 * w) as u32, (2.0 * h) as u32), "a 2× raster");
    assert_eq!(bundle.get("image/svg+xml").unwrap().matches("<svg").count(), 3, "both figures nested in one SVG");
    assert!(!panel.html().contains("<svg"), "no figure inside HTML");
    assert!(panel.text().contains("t\na\n─"), "the table as text: {}", panel.text());
    // image grids go as PNG only (their SVG only wraps a raster); tables alone as HTML + Markdown + text
    assert_eq!(preview.bundle().mimes(), ["image/png", "text/plain"]);
    assert_eq!(Panel::new().table(Table::new("t", &["a"])).bundle().mimes(), ["text/html", "text/markdown", "text/plain"]);
    let tmp = tmp_dir("fig");
    let path = tmp.join("bars.svg");
    panel.figures[0].save_svg(&path).unwrap();
    assert!(std::fs::read_to_string(path).unwrap().starts_with("<svg"));
}

#[test]
fn a_categorical_sweep_labels_its_rows_and_draws_bars() {
    let data = tiny();
    let sweep = Sweep::categories("model", ["mlp", "convnet"])
        .seeds([0, 1])
        .verbose(false)
        .run_labels(|label, seed| {
            let arch = if label == "mlp" { Arch::mlp(16, 1) } else { Arch::convnet(4, 1) };
            Supervised::builder().model(arch).train(quick(1)).seed(seed).name(label).fit(&data, &cpu())
        })
        .unwrap();
    let names: Vec<&str> = sweep.points.iter().map(|p| p.record.name.as_str()).collect();
    assert_eq!(names, ["mlp", "mlp", "convnet", "convnet"], "the closure got each label, seeds fastest");
    let table = sweep.table("test_acc");
    assert_eq!((table.rows[0][0].as_str(), table.rows[1][0].as_str()), ("mlp", "convnet"));
    let svg = sweep.plot("test_acc").svg;
    assert!(svg.contains("mlp") && svg.contains("convnet") && svg.contains("<rect"), "bars per label");
    let tmp = tmp_dir("cat-sweep");
    let path = tmp.join("s.json");
    sweep.save(&path).unwrap();
    assert_eq!(Sweep::load(&path).unwrap().table("test_acc"), table);
}

#[test]
fn a_comparison_runs_methods_by_seeds_into_one_table_bars_and_curves() {
    let data = tiny();
    let c = Comparison::of("mlp vs convnet")
        .seeds([0, 1])
        .reference("chance", 0.1)
        .verbose(false)
        .method("mlp", |seed| Supervised::builder().model(Arch::mlp(16, 1)).train(quick(2)).seed(seed).fit(&data, &cpu()))
        .method("convnet", |seed| Supervised::builder().model(Arch::convnet(4, 1)).train(quick(2)).seed(seed).fit(&data, &cpu()))
        .run()
        .unwrap();
    let t = c.table("test_acc");
    assert_eq!(t.rows.len(), 3);
    assert_eq!((t.rows[0][0].as_str(), t.rows[0][1].as_str()), ("chance", "10.00"));
    assert_eq!(t.rows[1][2], "2");
    let per_seed: Vec<f64> = c.row("mlp").unwrap().values("test_acc");
    let mean = per_seed.iter().sum::<f64>() / 2.0;
    assert!((c.mean("mlp", "test_acc") - mean).abs() < 1e-12);
    assert!(t.rows[1][1].starts_with(&format!("{:.2}", mean * 100.0)), "{:?}", t.rows[1]);
    assert!(c.bars("test_acc").svg.contains("convnet") && c.curves("test_acc").svg.contains("polyline"));
    assert!(c.model("convnet", 1).is_some());
    let tmp = tmp_dir("comparison");
    let path = tmp.join("c.json");
    c.save(&path).unwrap();
    assert_eq!(Comparison::load(&path).unwrap(), c);
    std::fs::write(&path, r#"{"title": "x", "references": [], "rows": []}"#).unwrap();
    assert!(Comparison::load(&path).unwrap_err().to_string().contains("c.json"));
    let e = Comparison::of("none").run().unwrap_err();
    assert!(matches!(&e, Error::Invalid { field, .. } if field == "comparison.methods"), "{e}");
}

#[test]
fn the_notebook_harness_reads_flag_values_as_values_not_filters() {
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(common::test_filters(&args(&["--test-threads", "1"])).is_empty(), "`1` is the thread count, not a filter");
    assert!(common::test_filters(&args(&["--test-threads=1", "--nocapture"])).is_empty());
    assert_eq!(common::test_filters(&args(&["--skip", "slow", "notebooks"])), ["notebooks"]);
}

#[test]
fn the_softened_teacher_figure_shows_each_temperature_and_names_bad_input() {
    let data = tiny();
    let run = Supervised::builder().model(Arch::mlp(16, 1)).train(quick(1)).name("teacher").fit(&data, &cpu()).unwrap();
    let fig = run.plot_soft_targets(&data, 0, &[1.0, 4.0]).unwrap();
    assert!(fig.svg.contains("T = 1") && fig.svg.contains("T = 4") && fig.svg.contains("probability (%)"));
    // one bar per class and temperature, and one legend swatch per temperature
    assert_eq!(fig.svg.matches("opacity=\"0.85\"").count(), 2 * data.classes.len() + 2);
    for (index, temperatures, field) in [(data.test.len(), vec![1.0], "index"), (0, vec![1.0, 0.0], "temperature"), (0, vec![f64::NAN], "temperature")] {
        match run.plot_soft_targets(&data, index, &temperatures) {
            Err(distillery::Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected a typed error, got {:?}", other.map(|f| f.title)),
        }
    }
}

#[test]
fn a_local_sweep_or_comparison_lists_a_failed_point_and_finishes_the_others() {
    let data = tiny();
    let fit = |epochs: usize, seed: u64| Supervised::builder().model(Arch::mlp(8, 1)).train(quick(epochs)).seed(seed).fit(&data, &cpu());
    // 0 epochs is a typed error of that point alone: the points before and after it still run
    let sweep = Sweep::over("epochs", [1.0, 0.0, 1.0]).verbose(false).run(|e| fit(e as usize, 0)).unwrap();
    assert_eq!((sweep.points.len(), sweep.failed.len()), (2, 1), "{:?}", sweep.failed);
    assert!(sweep.failed[0].params == vec![("epochs".to_string(), 0.0)] && sweep.failed[0].error.contains("epochs"), "{:?}", sweep.failed);
    // a comparison: seed 1 of one method fails, its other seed and the other method finish
    let c = Comparison::of("one bad run")
        .seeds([0, 1])
        .verbose(false)
        .method("ok", |seed| fit(1, seed))
        .method("flaky", |seed| fit(if seed == 1 { 0 } else { 1 }, seed))
        .run()
        .unwrap();
    assert_eq!(c.rows[0].seeds, vec![0, 1]);
    assert_eq!(c.rows[1].seeds, vec![0], "the failed seed is missing from its row");
    assert!(c.failed.len() == 1 && c.failed[0].0 == "flaky" && c.failed[0].1 == 1, "{:?}", c.failed);
    // when nothing finishes, the first error is the answer
    let e = Sweep::over("epochs", [0.0, 0.0]).verbose(false).run(|e| fit(e as usize, 0)).unwrap_err();
    assert!(e.to_string().contains("epochs"), "{e}");
}
