//! `distillery` CLI. With no arguments: the Hinton-KD main job on real data if the data root
//! has it, else on the embedded generated shapes.
use distillery::data::DataRoot;
use distillery::device::{Device, DeviceExt};
use distillery::experiment::{KdExperiment, MgdExperiment};
use distillery::profile::Profile;
use distillery::{Error, Result};
use std::path::PathBuf;

const HELP: &str = "\
distillery — knowledge distillation experiments on burn

USAGE:
    distillery [kd] [OPTIONS]
    distillery mgd [OPTIONS]     MGD vs student, FitNet, Hinton KD, MGD + KD over --seeds seeds

With no arguments, runs the Hinton-KD main job: a teacher, the student alone and the student
distilled from the teacher, on Fashion-MNIST (or MNIST) when the data root has it, else on the
embedded generated shapes dataset. Prints a results table and writes under --out:
records/*.json (run records), ckpt/ (checkpoints; a rerun resumes), kd-*.svg (curves),
summary.md (the table).

OPTIONS:
    --profile <smoke|cpu|gpu>   run scale [env DISTILLERY_PROFILE; default: gpu on a GPU, else cpu]
    --data <DIR>                data root with mnist/ and fashion-mnist/ IDX files
                                [env DISTILLERY_DATA; default ./data, or ../shared/datasets]
    --dataset <NAME>            auto | fashion-mnist | mnist | cifar10 | cifar100 | shapes [default: auto]
    --out <DIR>                 output folder [default: out]
    --teacher <ARCH>            teacher architecture [default: convnet-3-w<profile width>]
    --student <ARCH>            student architecture [default: convnet-1-w8]
                                ARCH: convnet[-D[-wW]], resnetN, resnetNx4, resnet18, resnet34,
                                wrn-D-K, mobilenetv2, mlp[-W]
    --temperature <T>           KD temperature, T > 0 [default: 4]
    --alpha <A>                 KD weight in [0, 1] [default: 0.9]
    --epochs <N>                epochs per run [default: from the profile]
    --seed <N>                  seed [default: 0]
    --seeds <N>                 seeds per student method (mgd) [default: 3, smoke 1]
    --fresh                     ignore and delete existing checkpoints under --out
    -h, --help                  print this help
";

/// What the command line asks for.
enum Command {
    Kd(KdExperiment),
    Mgd(MgdExperiment),
}

fn parse_args(args: &[String]) -> Result<Option<Command>> {
    let device_profile = |p: Option<Profile>| p.unwrap_or_else(|| Profile::from_env(&Device::auto_quiet()));
    let mut profile = None;
    let mut command = "kd";
    let mut seeds = None;
    let mut rest: Vec<(String, Option<String>)> = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "kd" => command = "kd",
            "mgd" => command = "mgd",
            "--fresh" => rest.push((a.clone(), None)),
            flag if flag.starts_with("--") => {
                let value = it.next().ok_or_else(|| Error::invalid(flag, "nothing", "expects a value"))?;
                if flag == "--profile" {
                    profile = Some(Profile::parse(value)?);
                } else {
                    rest.push((flag.to_string(), Some(value.clone())));
                }
            }
            other => return Err(Error::invalid("argument", other, "unknown; see --help")),
        }
    }
    let mut exp = KdExperiment::new(device_profile(profile));
    for (flag, value) in rest {
        let v = value.unwrap_or_default();
        let num = |field: &str| v.parse::<f64>().map_err(|_| Error::invalid(field, &v, "expects a number"));
        match flag.as_str() {
            "--fresh" => exp.fresh = true,
            "--data" => exp.data_root = DataRoot::resolve(Some(&PathBuf::from(&v))),
            "--dataset" => exp.dataset = v.clone(),
            "--out" => exp.out = PathBuf::from(&v),
            "--teacher" => exp.teacher = v.parse()?,
            "--student" => exp.student = v.parse()?,
            "--temperature" => exp.temperature = num("--temperature")?,
            "--alpha" => exp.alpha = num("--alpha")?,
            "--epochs" => exp.epochs = v.parse().map_err(|_| Error::invalid("--epochs", &v, "expects a whole number"))?,
            "--seeds" => seeds = Some(v.parse::<usize>().map_err(|_| Error::invalid("--seeds", &v, "expects a whole number"))?),
            "--seed" => exp.seed = v.parse().map_err(|_| Error::invalid("--seed", &v, "expects a whole number"))?,
            other => return Err(Error::invalid("flag", other, "unknown; see --help")),
        }
    }
    if command == "mgd" {
        let mut mgd = MgdExperiment::new(exp.profile);
        let (teacher, student, out) = (mgd.base.teacher.clone(), mgd.base.student.clone(), mgd.base.out.clone());
        mgd.base = exp;
        // the MGD pair and output folder unless the flags named others
        if !args.iter().any(|a| a == "--teacher") {
            mgd.base.teacher = teacher;
        }
        if !args.iter().any(|a| a == "--student") {
            mgd.base.student = student;
        }
        if !args.iter().any(|a| a == "--out") {
            mgd.base.out = out;
        }
        if let Some(n) = seeds {
            mgd.seeds = n;
        }
        return Ok(Some(Command::Mgd(mgd)));
    }
    Ok(Some(Command::Kd(exp)))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(Some(c)) => c,
        Ok(None) => {
            print!("{HELP}");
            return;
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let device = Device::auto();
    let result = match &command {
        Command::Kd(exp) => exp.run(&device).map(|report| {
            println!("\n{}", report.table());
            println!("wrote {0}/summary.md, {0}/records/*.json, {0}/kd-test_acc.svg", exp.out.display());
        }),
        Command::Mgd(exp) => exp.run(&device).map(|table| {
            println!("\n{}", table.markdown());
            println!("wrote {0}/summary.md, {0}/records/*.json, {0}/mgd-bars.svg", exp.base.out.display());
        }),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
