//! Picking the compute device at run time.
//!
//! Backends are cargo features: `flex` (default, pure-Rust CPU), `tch` (libtorch, CPU or CUDA),
//! `cuda` (burn's CubeCL CUDA; needs network access at build time), `remote` (a device on
//! another machine's `distillery serve`, through burn-remote). [`DeviceExt::auto`] picks the
//! remote device `DISTILLERY_REMOTE` names when it is set, else CUDA when a GPU backend is
//! compiled in and a GPU is present, else the faster CPU backend compiled in: flex, whose own
//! conv and norm ops (`crate::ops`) now train faster than libtorch's CPU (docs/performance.md);
//! `DISTILLERY_CPU=libtorch` picks libtorch when both are compiled in.
pub use burn::tensor::Device;
use crate::error::{Error, RemoteFailure, Result};
#[cfg(feature = "remote")]
pub mod relay;
use std::time::Duration;

/// Why [`DeviceExt::auto`] picked this CPU backend, when flex and libtorch are both compiled in.
fn cpu_choice_reason(device: &Device) -> Option<&'static str> {
    let both = cfg!(all(feature = "flex", feature = "tch"));
    if !both || device.is_gpu() || device.is_remote() {
        return None;
    }
    Some(if device.describe().starts_with("libtorch") {
        "DISTILLERY_CPU=libtorch; flex is the faster CPU backend to train on here (docs/performance.md)"
    } else {
        "flex and libtorch are both compiled in; flex trains the ConvNet 1.7× faster and ResNets within 20 % (docs/performance.md); DISTILLERY_CPU=libtorch picks libtorch"
    })
}

/// The value of the environment variable `name` when it is one of `accepted`. Any other value is
/// reported on stderr (naming the variable, the value and the accepted values) and ignored, so
/// a typo never passes silently.
fn env_choice(name: &str, accepted: &[&'static str]) -> Option<&'static str> {
    let value = std::env::var(name).ok()?;
    match check_choice(name, &value, accepted) {
        Ok(choice) => Some(choice),
        Err(message) => {
            eprintln!("distillery: {message}");
            None
        }
    }
}

/// `value` as one of `accepted`, or the message that names what is wrong.
fn check_choice(name: &str, value: &str, accepted: &[&'static str]) -> std::result::Result<&'static str, String> {
    accepted.iter().find(|a| a.eq_ignore_ascii_case(value.trim())).copied().ok_or_else(|| format!("{name}={value:?} is not one of {}; ignored", accepted.join(", ")))
}

/// Keeps freed tensor buffers in the process for reuse instead of returning them to the kernel
/// on every free (Linux with glibc; elsewhere a no-op). Returns whether it changed anything.
///
/// glibc gives each allocation above its mmap threshold (128 KiB at start, raised only as large
/// blocks are freed) a mapping of its own and unmaps it on free, and gives heap memory back once
/// 128 KiB sit free at its top. A training step allocates and frees hundreds of activation-sized
/// buffers, so every step page-faulted its memory back in: 28 % of a flex ConvNet-3 step's perf
/// samples were page faults, `munmap` and page zeroing (docs/performance.md). With no mmap'd
/// blocks (`M_MMAP_MAX` 0), a 2 GiB trim threshold and one heap for every thread started
/// afterwards (`M_ARENA_MAX` 1: a thread's own heap maps any block over 64 MiB), freed buffers
/// are reused: a flex ConvNet-3 w128 step went from 376 to 314 ms with the same peak RSS;
/// ResNet-20's, whose buffers are smaller, stayed at ≈ 465 ms (`just bench`, docs/performance.md). Called where devices are made
/// ([`DeviceExt::auto`], [`DeviceExt::cpu_default`], [`crate::train::devices`]); once per
/// process is enough and repeats are harmless. `DISTILLERY_MALLOC=glibc` keeps glibc's defaults
/// (`tuned`, the default, keeps these settings; any other value is named on stderr and ignored).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static TUNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *TUNED.get_or_init(|| {
            if env_choice("DISTILLERY_MALLOC", &["glibc", "tuned"]) == Some("glibc") {
                return false;
            }
            // SAFETY: mallopt only sets glibc's allocator parameters; any thread may call it.
            unsafe {
                libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                    && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
                    // threads started from now on share the main heap, which grows without bound:
                    // a thread heap holds at most 64 MiB and maps anything larger regardless
                    && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
            }
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// How long [`DeviceExt::remote`] waits for a server's answer before [`RemoteFailure::Timeout`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Constructors and descriptions added to burn's [`Device`].
pub trait DeviceExt: Sized {
    /// CUDA when a GPU backend is compiled in and a GPU is present, else [`cpu_default`](DeviceExt::cpu_default); prints its choice and, when it took libtorch over flex, why.
    fn auto() -> Self;
    /// The same choice as [`auto`](DeviceExt::auto), without printing.
    fn auto_quiet() -> Self;
    /// The CPU device of the faster compiled-in CPU backend for training: flex when compiled in
    /// (unless `DISTILLERY_CPU=libtorch` and `tch` is on too), else libtorch's CPU.
    fn cpu_default() -> Self;
    /// A short human name such as `flex (CPU)` or `libtorch CUDA:0`.
    fn describe(&self) -> String;
    /// Whether this device is a GPU.
    fn is_gpu(&self) -> bool;
    /// Whether this device lives on another machine (a burn-remote device).
    fn is_remote(&self) -> bool;
    /// Device 0 of the `distillery serve` at `url` (`ws://host:port`), connected now, with the
    /// server's `token` (`None` for a server started with `--no-token`). Waits at most
    /// [`CONNECT_TIMEOUT`]; every failure is an [`Error::Remote`] naming the address and its
    /// [`RemoteFailure`]. Needs the `remote` feature.
    fn remote(url: &str, token: Option<&str>) -> Result<Self>;
    /// Every device the server at `url` hosts, each connected now (see [`DeviceExt::remote`]).
    fn remote_all(url: &str, token: Option<&str>) -> Result<Vec<Self>>;
    /// The devices `DISTILLERY_REMOTE` names (a comma list of `ws://host:port`, every device of
    /// each server that answers, token from `DISTILLERY_REMOTE_TOKEN`; see [`fleet_of`]), or
    /// this machine's [`auto`](DeviceExt::auto_quiet) device alone when it is unset: the list
    /// to fan a sweep out over.
    fn fleet() -> Result<Vec<Self>>;
}

impl DeviceExt for Device {
    fn auto() -> Self {
        let device = Self::auto_quiet();
        match cpu_choice_reason(&device) {
            Some(why) => println!("distillery: using {} ({why})", device.describe()),
            None => println!("distillery: using {}", device.describe()),
        }
        device
    }

    #[allow(unreachable_code)]
    fn auto_quiet() -> Self {
        keep_freed_memory();
        if let Some(url) = remote_from_env().first() {
            match Device::remote(url, remote_token().as_deref()) {
                Ok(device) => return device,
                Err(e) => eprintln!("distillery: DISTILLERY_REMOTE is set but {e}; using this machine instead"),
            }
        }
        #[cfg(feature = "tch")]
        if load_torch_cuda() && tch::Cuda::is_available() {
            #[allow(deprecated)]
            return Device::libtorch_cuda(0);
        }
        #[cfg(feature = "cuda")]
        if std::path::Path::new("/dev/nvidia0").exists() {
            return Device::cuda(0);
        }
        Self::cpu_default()
    }

    #[allow(unreachable_code)]
    fn cpu_default() -> Self {
        keep_freed_memory();
        #[cfg(all(feature = "flex", feature = "tch"))]
        #[allow(deprecated)]
        return match env_choice("DISTILLERY_CPU", &["flex", "libtorch"]) {
            Some("libtorch") => Device::libtorch(),
            _ => Device::flex(),
        };
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        return Device::libtorch();
        #[cfg(feature = "flex")]
        return Device::flex();
        Device::default()
    }

    fn describe(&self) -> String {
        let raw = format!("{:?}", self.as_dispatch());
        let gpu = self.is_gpu();
        let kind = if gpu { "GPU" } else { "CPU" };
        if raw.contains("Flex") {
            "flex (CPU)".into()
        } else if self.is_remote() {
            describe_remote(self)
        } else if raw.contains("LibTorch") {
            format!("libtorch {kind} ({raw})")
        } else {
            format!("{raw} ({kind})")
        }
    }

    fn is_gpu(&self) -> bool {
        let raw = format!("{:?}", self.as_dispatch());
        raw.contains("Cuda") || raw.contains("Rocm") || raw.contains("Wgpu") || raw.contains("Metal")
    }

    fn is_remote(&self) -> bool {
        format!("{:?}", self.as_dispatch()).starts_with("Remote")
    }

    fn remote(url: &str, token: Option<&str>) -> Result<Self> {
        connect_remote(url, token, 0, CONNECT_TIMEOUT)
    }

    fn remote_all(url: &str, token: Option<&str>) -> Result<Vec<Self>> {
        let first = connect_remote(url, token, 0, CONNECT_TIMEOUT)?;
        let count = remote::device_count(url, token, CONNECT_TIMEOUT)?;
        let mut all = vec![first];
        for index in 1..count {
            all.push(connect_remote(url, token, index, CONNECT_TIMEOUT)?);
        }
        Ok(all)
    }

    fn fleet() -> Result<Vec<Self>> {
        let urls = remote_from_env();
        if urls.is_empty() {
            return Ok(vec![Device::auto_quiet()]);
        }
        fleet_of(&urls, remote_token().as_deref())
    }
}

/// Device `index` of the server at `url`, connected now, waiting at most `timeout` for its
/// answer ([`DeviceExt::remote`] with a deadline of your choice). The device talks to its server
/// through this process's watchdog (`device::relay`, feature `remote`): a server that stops
/// answering mid-run fails the run with [`RemoteFailure::Timeout`] within about its timeout.
pub fn connect_remote(url: &str, token: Option<&str>, index: usize, timeout: Duration) -> Result<Device> {
    remote_here();
    let dial = remote::watched(url, token)?;
    let session = Session { url: url.into(), dial: dial.clone(), token: token.map(String::from), index };
    let mut known = KNOWN_HERE.lock().unwrap_or_else(|p| p.into_inner());
    // burn-remote numbers an endpoint when it is asked for, before it connects: every attempt is
    // recorded, failed ones too, so that replaying the list numbers the devices the same way
    let connected = remote::connect(&dial, token, index, timeout).map_err(|e| renamed(e, url));
    shared().lock().unwrap_or_else(|p| p.into_inner()).sessions.push(session.clone());
    *known += 1;
    let device = connected?;
    name(&device, &session);
    Ok(device)
}

/// One remote device as it was asked for: enough to number it again in another copy.
#[derive(Clone, Debug, PartialEq)]
struct Session {
    /// The server's address, as the user gave it.
    url: String,
    /// Where burn-remote connects: the watchdog's local end of the relay to `url`.
    dial: String,
    token: Option<String>,
    index: usize,
}

/// What every copy of this crate in the process knows about remote devices: every device asked
/// for, in order, and the servers the watchdog gave up on, with why.
///
/// Why shared, and how: evcxr links each notebook cell with its own copy of every dependency,
/// and burn-remote keeps its device numbering in a static — a device connected in one cell is
/// unknown to the next cell's copy, so [`remote_here`] replays the list in a new copy. The list
/// holds tokens, so it stays in this process's memory: the first copy leaks it and leaves its
/// address (never its contents) in [`SHARED_ENV`], tagged with the process id, the crate version
/// and the struct's size; a later copy with the same tag reads it there, and a child process
/// (another pid) that inherits the variable ignores it.
#[derive(Default)]
struct Shared {
    sessions: Vec<Session>,
    lost: Vec<(String, String)>,
}

/// The environment variable that holds [`Shared`]'s address as `pid:version:size@hex`.
const SHARED_ENV: &str = "DISTILLERY_REMOTE_SHARED";

fn shared() -> &'static std::sync::Mutex<Shared> {
    static HERE: std::sync::OnceLock<&'static std::sync::Mutex<Shared>> = std::sync::OnceLock::new();
    HERE.get_or_init(|| {
        let tag = format!("{}:{}:{}", std::process::id(), env!("CARGO_PKG_VERSION"), std::mem::size_of::<std::sync::Mutex<Shared>>());
        let found = std::env::var(SHARED_ENV).ok().and_then(|v| {
            let (t, address) = v.rsplit_once('@')?;
            (t == tag).then(|| usize::from_str_radix(address, 16).ok()).flatten()
        });
        if let Some(address) = found {
            // SAFETY: another copy of this crate (same version, same layout) in this process
            // (same pid) leaked this Mutex<Shared> and never frees it
            return unsafe { &*(address as *const std::sync::Mutex<Shared>) };
        }
        let leaked: &'static std::sync::Mutex<Shared> = Box::leak(Box::default());
        // SAFETY: set once per process, the first time a remote device is asked for, before any
        // relay or fan-out thread of ours exists; the value is an address, not a secret
        unsafe { std::env::set_var(SHARED_ENV, format!("{tag}@{:x}", leaked as *const _ as usize)) };
        leaked
    })
}

/// How many of [`Shared::sessions`] this copy of the crate has numbered.
static KNOWN_HERE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

fn name(device: &Device, session: &Session) {
    let mut names = REMOTE_NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if !names.iter().any(|(d, _)| d == device) {
        names.push((device.clone(), format!("remote {} device {}", session.url, session.index)));
    }
}

/// Makes the remote devices this process connected usable from this copy of the crate: in a
/// notebook, each cell links its own copy of every dependency, and a copy that has not
/// numbered the devices yet replays every connect, in order, opening its own sessions. Called
/// where training starts ([`crate::train::devices`]) and by the fan-out; a no-op outside
/// notebooks and without remote devices. Call it yourself before raw tensor operations on a
/// remote device in a new cell.
pub fn remote_here() {
    let mut known = KNOWN_HERE.lock().unwrap_or_else(|p| p.into_inner());
    let all = shared().lock().unwrap_or_else(|p| p.into_inner()).sessions.clone();
    for session in all.iter().skip(*known) {
        // a server that is gone since keeps its number; its error surfaces where it is used
        if let Ok(device) = remote::connect(&session.dial, session.token.as_deref(), session.index, Duration::from_secs(5)) {
            name(&device, session);
        }
    }
    *known = all.len().max(*known);
}

/// Why the watchdog gave up on the server at `url`, if it did.
pub fn lost_reason(url: &str) -> Option<String> {
    shared().lock().unwrap_or_else(|p| p.into_inner()).lost.iter().rev().find(|(u, _)| u == url).map(|(_, why)| why.clone())
}

#[cfg(feature = "remote")]
fn mark_lost(url: &str, why: &str) {
    eprintln!("distillery: {url}: {why}");
    shared().lock().unwrap_or_else(|p| p.into_inner()).lost.push((url.into(), why.into()));
}

/// The server address of a device [`connect_remote`] made.
pub fn remote_url(device: &Device) -> Option<String> {
    let name = describe_remote(device);
    name.strip_prefix("remote ").and_then(|rest| rest.split(' ').next()).filter(|u| u.contains("://")).map(String::from)
}

/// Runs `f`; on a remote device, a panic inside it (burn-remote panics when its connection
/// breaks) becomes an [`Error::Remote`] naming the server: [`RemoteFailure::Timeout`] when the
/// watchdog gave up on it, [`RemoteFailure::Unreachable`] otherwise. Elsewhere a panic stays a
/// panic.
pub fn catching_remote<T>(device: &Device, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !device.is_remote() {
        return f();
    }
    quiet_panics();
    let was_quiet = QUIET.replace(true);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.set(was_quiet);
    caught.unwrap_or_else(|panic| {
        let url = remote_url(device).unwrap_or_else(|| "remote device".into());
        let message = crate::models::panic_message(&*panic);
        Err(match lost_reason(&url) {
            Some(why) => Error::Remote { url, kind: RemoteFailure::Timeout, reason: why },
            None => Error::Remote { url, kind: RemoteFailure::Unreachable, reason: format!("the connection broke mid-run ({message})") },
        })
    })
}

thread_local! {
    /// Set while a panic on this thread is caught and reported as an error ([`catching_remote`]).
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The name every fan-out thread's name starts with ([`crate::train::fanout`]).
pub(crate) const FAN_OUT_THREAD: &str = "distillery fan-out";

/// A panic that is caught and reported as an error — on a fan-out thread, or inside
/// [`catching_remote`] — is reported once, as that error, not also by the default hook's stderr
/// dump; the hook stays as it was for every other panic.
pub(crate) fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = QUIET.get() || std::thread::current().name().is_some_and(|n| n.starts_with(FAN_OUT_THREAD));
            if !ours {
                previous(info);
            }
        }));
    });
}

/// The devices of every server in `urls` that answers (each server's every device, `token` for
/// all), in order. A server that does not answer is named on stderr and left out; only when none
/// answers is it an error, naming each one and why.
pub fn fleet_of(urls: &[String], token: Option<&str>) -> Result<Vec<Device>> {
    let mut all = Vec::new();
    let mut failed = Vec::new();
    for url in urls {
        match Device::remote_all(url, token) {
            Ok(devices) => all.extend(devices),
            Err(e) => failed.push(e),
        }
    }
    if all.is_empty() && let Some(first) = failed.first() {
        let Error::Remote { kind, .. } = first else { return Err(failed.swap_remove(0)) };
        let reason = failed.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        return Err(Error::Remote { url: urls.join(","), kind: *kind, reason: format!("no server of the fleet answers: {reason}") });
    }
    for e in &failed {
        eprintln!("distillery: left out of the fleet: {e}");
    }
    Ok(all)
}

/// `url` as a `ws://` address, or why not: `wss://` is refused, since burn-remote 0.22 has no
/// TLS and would connect in the clear to a server the user believes encrypted.
fn check_scheme(url: &str) -> Result<()> {
    let setup = |reason: &str| Err(Error::Remote { url: url.into(), kind: RemoteFailure::Setup, reason: reason.into() });
    if url.starts_with("wss://") {
        return setup("burn-remote has no TLS, so wss:// cannot be honoured: serve on 127.0.0.1 and tunnel (on this machine: `ssh -N -L 3000:127.0.0.1:3000 server`, then DISTILLERY_REMOTE=ws://127.0.0.1:3000), or use a VPN");
    }
    if !url.starts_with("ws://") {
        return setup("expected ws://host:port");
    }
    Ok(())
}

/// `e` naming `url` instead of the address it was raised for (the watchdog's local end).
fn renamed(e: Error, url: &str) -> Error {
    match e {
        Error::Remote { kind, reason, .. } => Error::Remote { url: url.into(), kind, reason },
        other => other,
    }
}

/// The servers `DISTILLERY_REMOTE` lists (comma-separated `ws://host:port`).
fn remote_from_env() -> Vec<String> {
    std::env::var("DISTILLERY_REMOTE").unwrap_or_default().split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// `DISTILLERY_REMOTE_TOKEN`, when set and not empty.
fn remote_token() -> Option<String> {
    std::env::var("DISTILLERY_REMOTE_TOKEN").ok().filter(|t| !t.is_empty())
}

/// The address and index of every remote device connected through [`connect_remote`], so that
/// [`DeviceExt::describe`] can name it (burn's own debug text hides the address in nested
/// structs).
static REMOTE_NAMES: std::sync::Mutex<Vec<(Device, String)>> = std::sync::Mutex::new(Vec::new());

/// `remote ws://host:port device N` for a device [`connect_remote`] made.
fn describe_remote(device: &Device) -> String {
    remote_here();
    let names = REMOTE_NAMES.lock().unwrap_or_else(|p| p.into_inner());
    names.iter().find(|(d, _)| d == device).map(|(_, name)| name.clone()).unwrap_or_else(|| "remote device".into())
}

/// Connecting to burn-remote servers over WebSocket, with a deadline (tokio drives the wait).
#[cfg(feature = "remote")]
mod remote {
    use super::*;
    use burn::tensor::remote::{ConnectError, RemoteHost};

    fn host(url: &str, token: Option<&str>) -> Result<RemoteHost> {
        check_scheme(url)?;
        let host = RemoteHost::websocket(url);
        Ok(match token {
            Some(token) => host.with_credential(token),
            None => host,
        })
    }

    /// The typed error for one of burn-remote's connect errors.
    fn failure(url: &str, e: ConnectError) -> Error {
        let kind = match e {
            ConnectError::Unauthorized => RemoteFailure::Unauthorized,
            ConnectError::NoSuchDevice { .. } => RemoteFailure::NoSuchDevice,
            ConnectError::IncompatibleProtocol { .. } | ConnectError::Handshake { .. } => RemoteFailure::Protocol,
            ConnectError::Unreachable { .. } | ConnectError::Interrupted => RemoteFailure::Unreachable,
            _ => RemoteFailure::Setup,
        };
        let reason = match kind {
            RemoteFailure::Unauthorized => format!("{e} (give the token `distillery serve` prints, e.g. DISTILLERY_REMOTE_TOKEN)"),
            _ => e.to_string(),
        };
        Error::Remote { url: url.into(), kind, reason }
    }

    /// Waits for `future` at most `timeout` on a small tokio runtime of its own.
    fn within<T>(url: &str, timeout: Duration, future: impl std::future::Future<Output = std::result::Result<T, ConnectError>>) -> Result<T> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(|e| Error::Remote { url: url.into(), kind: RemoteFailure::Setup, reason: format!("cannot start a tokio runtime: {e}") })?;
        match runtime.block_on(async { tokio::time::timeout(timeout, future).await }) {
            Ok(result) => result.map_err(|e| failure(url, e)),
            Err(_) => Err(Error::Remote { url: url.into(), kind: RemoteFailure::Timeout, reason: format!("no answer within {:.1} s", timeout.as_secs_f64()) }),
        }
    }

    /// Starts the watchdog's relay to the server at `url` (reachable now, or an
    /// [`RemoteFailure::Unreachable`] error) and returns the address burn-remote dials.
    pub(super) fn watched(url: &str, token: Option<&str>) -> Result<String> {
        check_scheme(url)?;
        let (url_owned, token_owned) = (url.to_string(), token.map(String::from));
        let probe: relay::Probe = std::sync::Arc::new(move |deadline| device_count(&url_owned, token_owned.as_deref(), deadline).map(|_| ()));
        relay::start(url, probe, mark_lost)
    }

    pub(super) fn connect(url: &str, token: Option<&str>, index: usize, timeout: Duration) -> Result<Device> {
        let options = Device::remote_options(&host(url, token)?).device_index(index);
        within(url, timeout, options.init_async())
    }

    pub(super) fn device_count(url: &str, token: Option<&str>, timeout: Duration) -> Result<usize> {
        let host = host(url, token)?;
        within(url, timeout, async move { host.devices_async().await.map(|d| d.len()) })
    }
}

/// Without the `remote` feature every remote call says how to turn it on.
#[cfg(not(feature = "remote"))]
mod remote {
    use super::*;

    fn missing(url: &str) -> Error {
        Error::Remote { url: url.into(), kind: RemoteFailure::Setup, reason: "this build has no `remote` feature: add `features = [\"remote\"]` to the distillery dependency".into() }
    }
    pub(super) fn watched(url: &str, _token: Option<&str>) -> Result<String> {
        check_scheme(url)?;
        Err(missing(url))
    }
    pub(super) fn connect(url: &str, _token: Option<&str>, _index: usize, _timeout: Duration) -> Result<Device> {
        Err(missing(url))
    }
    pub(super) fn device_count(url: &str, _token: Option<&str>, _timeout: Duration) -> Result<usize> {
        Err(missing(url))
    }
}

/// Loads `libtorch_cuda.so` (from `LD_LIBRARY_PATH`) so libtorch registers its CUDA backend.
/// The linker drops it with `--as-needed` because no symbol of it is referenced directly; a
/// process that never loads it sees no GPU. Returns whether it is loaded.
#[cfg(feature = "tch")]
fn load_torch_cuda() -> bool {
    // SAFETY: dlopen with a valid C string; the handle is intentionally kept open for the
    // lifetime of the process.
    unsafe { !libc::dlopen(c"libtorch_cuda.so".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL).is_null() }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Minor page faults of this process so far.
    fn minor_faults() -> i64 {
        // SAFETY: getrusage writes into the zeroed struct we pass.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage.ru_minflt
        }
    }

    /// A freed 32 MiB tensor-sized buffer is reused by the next one: writing it again faults in
    /// (almost) no pages. With glibc's defaults it is unmapped on free and all 8,192 pages fault
    /// back in (seen failing, 8,192 faults, with the `mallopt`s taken out).
    #[test]
    fn a_freed_buffer_is_reused_without_page_faults() {
        assert!(super::keep_freed_memory(), "mallopt refused the settings");
        let bytes = 32 << 20;
        let touch = |v: &mut Vec<u8>| v.iter_mut().step_by(4096).for_each(|b| *b = 1);
        let mut first = vec![0u8; bytes];
        touch(&mut first);
        drop(first);
        let before = minor_faults();
        let mut second = vec![0u8; bytes];
        touch(&mut second);
        let faults = minor_faults() - before;
        drop(second);
        assert!(faults < 1_000, "{faults} page faults writing a reused 32 MiB buffer (8,192 pages if it was unmapped)");
    }
}

/// With libtorch alone the CPU device is libtorch's; with flex too it is flex's (the faster one
/// to train on) and says how to pick libtorch. Runs in the `tch` builds (`just test-tch`, CI).
#[cfg(all(test, feature = "tch"))]
mod cpu_choice {
    use super::DeviceExt;

    #[test]
    fn the_cpu_device_is_flex_when_compiled_in_else_libtorch() {
        let device = super::Device::cpu_default();
        if cfg!(feature = "flex") {
            assert!(device.describe().starts_with("flex"), "{}", device.describe());
            assert!(super::cpu_choice_reason(&device).is_some_and(|why| why.contains("DISTILLERY_CPU=libtorch")));
        } else {
            assert!(device.describe().starts_with("libtorch CPU"), "{}", device.describe());
            assert!(super::cpu_choice_reason(&device).is_none());
        }
    }
}

#[cfg(test)]
mod env_choices {
    use super::check_choice;

    #[test]
    fn an_unknown_value_is_named_with_the_accepted_ones() {
        assert_eq!(check_choice("DISTILLERY_CPU", "flex", &["flex", "libtorch"]), Ok("flex"));
        assert_eq!(check_choice("DISTILLERY_CPU", " Flex ", &["flex", "libtorch"]), Ok("flex"));
        let message = check_choice("DISTILLERY_CPU", "flx", &["flex", "libtorch"]).unwrap_err();
        assert_eq!(message, "DISTILLERY_CPU=\"flx\" is not one of flex, libtorch; ignored");
    }
}
