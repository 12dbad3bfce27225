//! Remote devices over loopback (feature `remote-server`): flex servers on ports the OS picks,
//! a sweep fanned out over them, a server killed mid-sweep, tokens, timeouts, `distillery serve`.
#![cfg(feature = "remote-server")]
mod common;
use common::{cpu, data_root};
use distillery::device::connect_remote;
use distillery::burn::tensor::Tensor;
use distillery::prelude::*;
use distillery::serve::{ServeConfig, Server};
use distillery::RemoteFailure;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TOKEN: &str = "test-token";

fn server() -> Server {
    Server::start(ServeConfig { bind: ([127, 0, 0, 1], 0).into(), token: Some(TOKEN.into()), devices: vec![cpu()] }).unwrap()
}

fn device(server: &Server) -> Device {
    Device::remote(&server.url, Some(TOKEN)).unwrap()
}

fn data() -> Dataset {
    Dataset::fashion_mnist(&data_root(), &Profile::Smoke).unwrap()
}

fn train(data: &Dataset, lr: f64, seed: u64, device: &Device) -> distillery::Result<Run> {
    let recipe = TrainConfig::new().with_epochs(1).with_batch_size(32).with_lr(lr).with_seed(seed).with_verbose(false);
    Supervised::builder().model(Arch::mlp(32, 1)).train(recipe).fit(data, device)
}

/// `(params, seed, final test accuracy)` of every point, in order.
type Accuracies = Vec<(Vec<(String, f64)>, u64, f64)>;

fn accuracies(sweep: &Sweep) -> Accuracies {
    sweep.points.iter().map(|p| (p.params.clone(), p.seed, p.record.final_metric("test_acc").unwrap())).collect()
}

fn spec() -> distillery::train::SweepSpec {
    Sweep::over("lr", [0.01, 0.03, 0.05, 0.1]).verbose(false)
}

#[test]
fn a_sweep_over_two_servers_gives_the_local_numbers() {
    let data = data();
    let local = spec().run(|lr| train(&data, lr, 0, &cpu())).unwrap();
    let (a, b) = (server(), server());
    let devices = [device(&a), device(&b)];
    assert!(devices.iter().all(|d| d.is_remote() && d.describe().starts_with("remote ws://127.0.0.1:")), "{}", devices[0].describe());
    let started = Instant::now();
    let remote = spec().run_on(&devices, |p, device| train(&data, p.x(), p.seed, device)).unwrap();
    println!("4-point sweep over 2 loopback servers: {:.1} s", started.elapsed().as_secs_f64());
    assert!(remote.failed.is_empty(), "{:?}", remote.failed);
    assert_eq!(accuracies(&remote), accuracies(&local));
    assert!(remote.points.iter().all(|p| p.record.backend.starts_with("remote ws://")), "{}", remote.points[0].record.backend);
    // a comparison's networks come home: they outlive the servers
    let comparison = Comparison::of("remote").verbose(false).devices(devices.clone()).method_on("mlp", |seed, device| train(&data, 0.05, seed, device)).run().unwrap();
    drop((a, b));
    let net = comparison.model("mlp", 0).unwrap();
    let logits = net.forward(Tensor::<4>::zeros([1, 1, 28, 28], &cpu()));
    assert_eq!(logits.dims(), [1, 10]);
}

#[test]
fn with_fused_ops_off_a_local_convnet_run_repeats_on_a_server_number_for_number() {
    // a server runs burn's own ops; this process's ConvNet uses the fused flex conv and instance
    // norm, which round differently (src/ops): with them off, local and remote runs are identical
    let data = data();
    let run = |device: &Device| {
        let recipe = TrainConfig::new().with_epochs(2).with_batch_size(32).with_lr(0.05).with_seed(3).with_verbose(false);
        Supervised::builder().model(Arch::convnet(8, 3)).train(recipe).fit(&data, device).unwrap()
    };
    let server = server();
    let remote = run(&device(&server));
    let fused = run(&cpu());
    distillery::ops::set_fused(false);
    let local = run(&cpu());
    distillery::ops::set_fused(true);
    let metrics = |r: &Run| r.record.epochs.iter().map(|e| (e.losses.clone(), e.metrics.clone())).collect::<Vec<_>>();
    assert_eq!(metrics(&local), metrics(&remote), "burn's ops here and on the server");
    assert_ne!(metrics(&fused), metrics(&remote), "the fused ops round differently (or this test no longer shows why the switch exists)");
}

#[test]
fn a_server_killed_mid_sweep_loses_no_point() {
    let data = data();
    let local = spec().run(|lr| train(&data, lr, 0, &cpu())).unwrap();
    let servers: Vec<Mutex<Option<Server>>> = (0..3).map(|_| Mutex::new(Some(server()))).collect();
    let devices: Vec<Device> = servers.iter().map(|s| device(s.lock().unwrap().as_ref().unwrap())).collect();
    let victim = devices[1].clone();
    let killed = Mutex::new(false);
    let sweep = spec()
        .retries(2)
        .run_on(&devices, |p, device| {
            if *device == victim {
                // the first point handed to server 1 kills it, then tries to train there
                if let Some(server) = servers[1].lock().unwrap().take() {
                    server.stop();
                    *killed.lock().unwrap() = true;
                }
            }
            train(&data, p.x(), p.seed, device)
        })
        .unwrap();
    assert!(*killed.lock().unwrap(), "server 1 was handed a point and killed");
    assert!(sweep.failed.is_empty(), "the point was retried elsewhere: {:?}", sweep.failed);
    assert_eq!(accuracies(&sweep), accuracies(&local), "all four points, in order, with the local numbers");
    assert!(sweep.points.iter().all(|p| !p.record.backend.contains(&servers_url(&victim))), "no finished point claims the dead server");
}

fn servers_url(device: &Device) -> String {
    device.describe().split(' ').nth(1).unwrap_or_default().to_string()
}

#[test]
fn a_server_killed_with_no_device_left_marks_its_point_failed() {
    let data = data();
    let only = Mutex::new(Some(server()));
    let device = device(only.lock().unwrap().as_ref().unwrap());
    let sweep = Sweep::over("lr", [0.05, 0.1])
        .verbose(false)
        .run_on(&[device], |p, device| {
            if let Some(server) = only.lock().unwrap().take() {
                server.stop();
            }
            train(&data, p.x(), p.seed, device)
        })
        .unwrap();
    assert!(sweep.points.is_empty());
    assert_eq!(sweep.failed.len(), 2, "both points listed, none lost: {:?}", sweep.failed);
    assert!(sweep.failed[0].error.contains("no device left") && sweep.failed[0].error.contains("no longer answers"), "the first point's own failure is kept: {}", sweep.failed[0].error);
    assert!(sweep.failed[1].error.contains("no device left"), "{}", sweep.failed[1].error);
}

#[test]
fn a_wrong_or_missing_token_is_unauthorized() {
    let s = server();
    for token in [Some("wrong"), None] {
        match Device::remote(&s.url, token) {
            Err(Error::Remote { kind: RemoteFailure::Unauthorized, url, .. }) => assert_eq!(url, s.url),
            other => panic!("token {token:?}: expected Unauthorized, got {other:?}"),
        }
    }
    assert!(Device::remote(&s.url, Some(TOKEN)).is_ok());
}

#[test]
fn a_server_that_never_answers_is_a_timeout_and_no_port_is_unreachable() {
    // listening (the kernel completes the TCP handshake) but never accepting: no answer ever
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let err = connect_remote(&url, Some(TOKEN), 0, Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, Error::Remote { kind: RemoteFailure::Timeout, .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "returned after {:?}", started.elapsed());
    // a URL that is not ws:// is a setup error naming it
    let err = Device::remote("http://example", None).unwrap_err();
    assert!(matches!(err, Error::Remote { kind: RemoteFailure::Setup, ref url, .. } if url == "http://example"), "{err}");
}

/// A `distillery serve` child on a port the OS picks, its token given in a file, and its URL.
struct Served {
    child: std::process::Child,
    url: String,
    printed: String,
}

impl Served {
    fn start(token: &str) -> Served {
        use std::io::{BufRead, BufReader};
        let file = std::env::temp_dir().join(format!("distillery-token-{}-{token}", std::process::id()));
        std::fs::write(&file, format!("{token}\n")).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_distillery"))
            .args(["serve", "--port", "0", "--devices", "cpu", "--token-file"])
            .arg(&file)
            .env_remove("DISTILLERY_REMOTE_TOKEN")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = String::new();
        let url = loop {
            let line = lines.next().expect("serve printed its address").unwrap();
            printed.push_str(&line);
            printed.push('\n');
            if let Some(rest) = line.trim().strip_prefix("DISTILLERY_REMOTE=") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // keep draining its output so that it never blocks on a full pipe
        std::thread::spawn(move || lines.for_each(drop));
        Served { child, url, printed }
    }

    fn signal(&self, signal: &str) {
        assert!(std::process::Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap().success());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn distillery_serve_prints_how_to_connect_and_requires_its_token() {
    let served = Served::start("cli-token");
    assert!(served.printed.contains("on ws://127.0.0.1:") && served.printed.contains("DISTILLERY_REMOTE_TOKEN=cli-token"), "{}", served.printed);
    let refused = Device::remote(&served.url, Some("not-it"));
    let sum = Device::remote(&served.url, Some("cli-token")).map(|device| Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device).sum().into_data().try_to_vec::<f32>().unwrap());
    assert!(matches!(refused, Err(Error::Remote { kind: RemoteFailure::Unauthorized, .. })), "{refused:?}");
    assert_eq!(sum.unwrap(), vec![6.0], "the served device computes");
}

/// `distillery serve ARGS`' exit status and stderr, for flags it must refuse before serving.
fn serve_refuses(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distillery")).arg("serve").args(args).output().unwrap();
    assert!(!out.status.success(), "serve {args:?} started: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_keeps_tokens_off_the_command_line_and_an_open_port_off_the_network() {
    let err = serve_refuses(&["--port", "0", "--token", "secret"]);
    assert!(err.contains("--token") && err.contains("ps") && err.contains("--token-file") && !err.contains("secret"), "{err}");
    let err = serve_refuses(&["--port", "0", "--no-token", "--bind", "0.0.0.0"]);
    assert!(err.contains("--no-token") && err.contains("0.0.0.0") && err.contains("--force"), "{err}");
    let err = serve_refuses(&["--port", "0", "--token-file", "/nonexistent/token"]);
    assert!(err.contains("--token-file") && err.contains("/nonexistent/token"), "{err}");
}

#[test]
fn wss_is_refused_with_how_to_tunnel() {
    let err = Device::remote("wss://gpu-box:3000", Some(TOKEN)).unwrap_err();
    assert!(matches!(err, Error::Remote { kind: RemoteFailure::Setup, .. }), "{err}");
    assert!(err.to_string().contains("TLS") && err.to_string().contains("ssh -N -L"), "{err}");
}

#[test]
fn a_fleet_starts_with_the_servers_that_answer() {
    let live = server();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("ws://{}", dead.local_addr().unwrap());
    drop(dead); // nothing listens there now
    let devices = distillery::device::fleet_of(&[dead_url.clone(), live.url.clone()], Some(TOKEN)).unwrap();
    assert_eq!(devices.len(), 1, "the live server's one device");
    assert!(devices[0].describe().contains(&live.url), "{}", devices[0].describe());
    let err = distillery::device::fleet_of(std::slice::from_ref(&dead_url), Some(TOKEN)).unwrap_err();
    assert!(matches!(err, Error::Remote { kind: RemoteFailure::Unreachable, .. }) && err.to_string().contains(&dead_url), "{err}");
}

/// The main job on a server that is frozen (SIGSTOP) mid-run ends with a timeout naming it,
/// instead of hanging; so does a sweep point, which is retried on the other server.
#[test]
fn a_frozen_server_times_out_a_run_and_a_sweep_moves_on() {
    distillery::device::relay::set_timeout(Duration::from_secs(3));
    let data = data();
    // a single run: the server freezes once training is under way
    let frozen = Served::start(TOKEN);
    let device = Device::remote(&frozen.url, Some(TOKEN)).unwrap();
    let started = Instant::now();
    let run = std::thread::scope(|s| {
        let handle = s.spawn(|| {
            let recipe = TrainConfig::new().with_epochs(10_000).with_batch_size(32).with_lr(0.05).with_seed(0).with_verbose(false);
            Supervised::builder().model(Arch::mlp(32, 1)).train(recipe).fit(&data, &device)
        });
        std::thread::sleep(Duration::from_secs(1));
        frozen.signal("-STOP");
        handle.join().unwrap()
    });
    let waited = started.elapsed();
    match run {
        Err(Error::Remote { kind: RemoteFailure::Timeout, url, reason }) => assert!(url == frozen.url && reason.contains("stopped answering"), "{url}: {reason}"),
        other => panic!("expected a timeout naming {}, got {:?}", frozen.url, other.map(|r| r.record.epochs.len())),
    }
    assert!(waited < Duration::from_secs(30), "ended {waited:?} after the start (timeout 3 s)");
    // a sweep over a server that freezes when handed its first point, and a live one
    let local = spec().run(|lr| train(&data, lr, 0, &cpu())).unwrap();
    let (victim, live) = (Served::start(TOKEN), Served::start(TOKEN));
    let devices = [Device::remote(&victim.url, Some(TOKEN)).unwrap(), Device::remote(&live.url, Some(TOKEN)).unwrap()];
    let froze = std::sync::Once::new();
    let sweep = spec()
        .retries(2)
        .run_on(&devices, |p, device| {
            if *device == devices[0] {
                froze.call_once(|| victim.signal("-STOP"));
            }
            train(&data, p.x(), p.seed, device)
        })
        .unwrap();
    assert!(froze.is_completed(), "the victim was handed a point");
    assert!(sweep.failed.is_empty(), "the frozen server's point ran on the live one: {:?}", sweep.failed);
    assert_eq!(accuracies(&sweep), accuracies(&local), "all four points, in order, with the local numbers");
}

/// Runs `distillery ARGS --data … --out OUT` on this machine's device, or fanned out over the
/// servers `remote` lists (burn's ops on both sides: DISTILLERY_FUSED_OPS=0); its stdout.
fn cli_job(args: &[&str], out: &std::path::Path, remote: Option<String>) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_distillery"));
    command.args(args).arg("--data").arg(data_root().path()).arg("--out").arg(out);
    command.env("DISTILLERY_FUSED_OPS", "0").env("DISTILLERY_REMOTE_TOKEN", TOKEN).env_remove("DISTILLERY_REMOTE");
    if let Some(urls) = remote {
        command.env("DISTILLERY_REMOTE", urls);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// `distillery mgd` with two servers in DISTILLERY_REMOTE fans its table out over both, and the
/// table is the local one.
#[test]
fn a_cli_table_fans_out_over_the_servers_it_is_given() {
    let (a, b) = (server(), server());
    let out = common::tmp_dir("fleet-mgd");
    let args = ["mgd", "--profile", "smoke", "--dataset", "fashion-mnist", "--epochs", "1", "--seeds", "2", "--methods", "student,kd"];
    let fanned = cli_job(&args, &out.join("fleet"), Some(format!("{},{}", a.url, b.url)));
    for server in [&a.url, &b.url] {
        assert!(fanned.lines().any(|l| l.contains(" seed ") && l.contains(&format!("on remote {server}"))), "no run on {server}: {fanned}");
    }
    let local = cli_job(&args, &out.join("local"), None);
    let table = |s: &str| s.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| method")).map(String::from).collect::<Vec<_>>();
    assert!(!table(&local).is_empty());
    assert_eq!(table(&fanned), table(&local), "the fanned-out table is the local one");
}

/// `distillery dsa` makes its sets over the servers too (herding's shared feature net among
/// them), with the local table.
#[test]
fn the_dsa_table_makes_its_sets_over_the_servers_it_is_given() {
    let (a, b) = (server(), server());
    let out = common::tmp_dir("fleet-dsa");
    // herding at two IPCs: one feature net, trained by whichever set comes first, serves both
    let args = ["dsa", "--profile", "smoke", "--dataset", "mnist", "--ipc", "1,2", "--methods", "random,herding,dc,dsa", "--iterations", "2", "--models", "1", "--epochs", "2", "--cross-arch", "none"];
    let fanned = cli_job(&args, &out.join("fleet"), Some(format!("{},{}", a.url, b.url)));
    for server in [&a.url, &b.url] {
        assert!(fanned.lines().any(|l| l.starts_with("set ") && l.contains(&format!("on remote {server}"))), "no set made on {server}: {fanned}");
    }
    let local = cli_job(&args, &out.join("local"), None);
    let table = |s: &str| s.lines().filter(|l| l.starts_with("| mnist")).map(String::from).collect::<Vec<_>>();
    assert_eq!(table(&local).len(), 8, "{local}");
    // the time column differs run to run; every other column is the same
    let without_time = |rows: Vec<String>| rows.iter().map(|r| { let mut c: Vec<&str> = r.split('|').collect(); c[7] = ""; c.join("|") }).collect::<Vec<_>>();
    assert_eq!(without_time(table(&fanned)), without_time(table(&local)), "the fanned-out table is the local one");
}

#[test]
fn the_watchdog_timeout_reads_seconds_and_refuses_anything_else() {
    use distillery::device::relay::env_seconds;
    assert_eq!(env_seconds(" 2.5 "), Some(Duration::from_millis(2500)));
    for bad in ["", "0", "-3", "soon", "inf"] {
        assert_eq!(env_seconds(bad), None, "{bad:?}");
    }
}
