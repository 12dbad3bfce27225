//! The watchdog between this process and a remote server: a server that stops answering without
//! closing its connection (frozen, swapped out, a network that drops packets silently) fails the
//! run with [`RemoteFailure::Timeout`] instead of hanging it forever.
//!
//! burn-remote's client has no read timeout: a read from a server that keeps its TCP connection
//! open but never answers blocks for ever. So every remote device talks to its server through a
//! relay in this process (127.0.0.1, a port the OS picks) that forwards the bytes both ways and
//! watches them. When the client has sent something and the server has been silent for half the
//! [`timeout`], the relay asks the server, on a connection of its own, for its device list; a
//! server that does not answer within the other half is declared lost: the relay closes the
//! device's connection, burn-remote fails every waiting call, and the run ends with a
//! [`RemoteFailure::Timeout`] naming the server ([`super::lost_reason`]). A server that is only
//! slow (a long operation) answers the probe and keeps its connection; probes then back off
//! (doubling, at most every 5 minutes) until it speaks again.
use super::{CONNECT_TIMEOUT, RemoteFailure, Result};
use crate::error::Error;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The default [`timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Set by [`set_timeout`]; 0 = not set.
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);

/// How long a server may stay silent while a client waits on it before its run fails:
/// [`set_timeout`] if called, else `DISTILLERY_REMOTE_TIMEOUT` (seconds), else
/// [`DEFAULT_TIMEOUT`].
pub fn timeout() -> Duration {
    match TIMEOUT_MS.load(Ordering::Relaxed) {
        0 => std::env::var("DISTILLERY_REMOTE_TIMEOUT").ok().and_then(|text| env_seconds(&text)).unwrap_or(DEFAULT_TIMEOUT),
        ms => Duration::from_millis(ms),
    }
}

/// `DISTILLERY_REMOTE_TIMEOUT`'s value as a duration; anything but a positive number of seconds
/// is named on stderr and ignored.
pub fn env_seconds(text: &str) -> Option<Duration> {
    match text.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
        _ => {
            eprintln!("distillery: DISTILLERY_REMOTE_TIMEOUT={text:?} is not a positive number of seconds; ignored ({} s)", DEFAULT_TIMEOUT.as_secs());
            None
        }
    }
}

/// Sets [`timeout`] for the devices connected from now on (in a notebook: for this cell's copy
/// of the crate and the devices it connects).
pub fn set_timeout(timeout: Duration) {
    TIMEOUT_MS.store((timeout.as_millis() as u64).max(1), Ordering::Relaxed);
}

/// Asks the server whether it is there, within the given deadline.
pub(super) type Probe = Arc<dyn Fn(Duration) -> Result<()> + Send + Sync>;

/// Starts a relay to the server at `url` (`ws://host:port[/path]`) and returns the `ws://` URL
/// of its local end. `lost` is called once with the server's URL and why, when the watchdog
/// gives up on it.
pub(super) fn start(url: &str, probe: Probe, lost: fn(&str, &str)) -> Result<String> {
    let setup = |reason: String| Error::Remote { url: url.into(), kind: RemoteFailure::Setup, reason };
    let rest = url.strip_prefix("ws://").ok_or_else(|| setup("expected ws://host:port".into()))?;
    let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
    let server: SocketAddr = authority
        .to_socket_addrs()
        .map_err(|e| Error::Remote { url: url.into(), kind: RemoteFailure::Unreachable, reason: format!("cannot resolve {authority}: {e}") })?
        .next()
        .ok_or_else(|| Error::Remote { url: url.into(), kind: RemoteFailure::Unreachable, reason: format!("{authority} resolves to no address") })?;
    TcpStream::connect_timeout(&server, CONNECT_TIMEOUT).map_err(|e| Error::Remote { url: url.into(), kind: if e.kind() == std::io::ErrorKind::TimedOut { RemoteFailure::Timeout } else { RemoteFailure::Unreachable }, reason: format!("cannot connect to {server}: {e}") })?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| setup(format!("cannot open the watchdog's local port: {e}")))?;
    let local = listener.local_addr().map_err(|e| setup(e.to_string()))?;
    let watched = Watched { url: url.into(), server, timeout: timeout(), probe, lost };
    std::thread::Builder::new()
        .name("distillery relay".into())
        .spawn(move || {
            for client in listener.incoming().flatten() {
                watched.link(client);
            }
        })
        .map_err(|e| setup(format!("cannot start the watchdog: {e}")))?;
    Ok(format!("ws://{local}{path}"))
}

/// One server as the relay watches it.
#[derive(Clone)]
struct Watched {
    url: String,
    server: SocketAddr,
    timeout: Duration,
    probe: Probe,
    lost: fn(&str, &str),
}

/// Milliseconds since the relay's clock started, for the last byte each way.
struct Traffic {
    start: Instant,
    up: AtomicU64,
    down: AtomicU64,
    closed: AtomicBool,
}

impl Traffic {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }
}

impl Watched {
    /// Forwards one client connection to the server, both ways, under the watchdog. A server
    /// that cannot be reached closes the client's connection (burn-remote reports it).
    fn link(&self, client: TcpStream) {
        let Ok(server) = TcpStream::connect_timeout(&self.server, self.timeout) else { return };
        let (_, _) = (client.set_nodelay(true), server.set_nodelay(true));
        let traffic = Arc::new(Traffic { start: Instant::now(), up: AtomicU64::new(0), down: AtomicU64::new(0), closed: AtomicBool::new(false) });
        let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else { return };
        let ends = [client.try_clone().ok(), server.try_clone().ok()];
        pump(client, server2, traffic.clone(), |t| &t.up);
        pump(server, client2, traffic.clone(), |t| &t.down);
        let watched = self.clone();
        let _ = std::thread::Builder::new().name("distillery watchdog".into()).spawn(move || watched.watch(&traffic, ends));
    }

    /// Probes the server whenever the client waits on it and it has been silent for half the
    /// timeout; closes both ends when a probe gets no answer.
    fn watch(&self, traffic: &Traffic, ends: [Option<TcpStream>; 2]) {
        let half = self.timeout / 2;
        let mut backoff = half;
        let mut heard_at = 0;
        let mut next_probe = Duration::ZERO;
        while !traffic.closed.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200).min(half));
            let (up, down) = (traffic.up.load(Ordering::Relaxed), traffic.down.load(Ordering::Relaxed));
            if down != heard_at {
                // it spoke: the next silence is judged afresh, not after an old back-off
                (heard_at, backoff, next_probe) = (down, half, Duration::ZERO);
            }
            let silent = Duration::from_millis(traffic.now().saturating_sub(down));
            let now = traffic.start.elapsed();
            if up <= down || silent < half || now < next_probe {
                continue;
            }
            match (self.probe)(half) {
                Err(Error::Remote { kind: kind @ (RemoteFailure::Timeout | RemoteFailure::Unreachable), reason, .. }) => {
                    let why = format!("the server stopped answering: no reply for {:.0} s, and {} to a probe ({reason}) — see DISTILLERY_REMOTE_TIMEOUT", silent.as_secs_f64(), if kind == RemoteFailure::Timeout { "none" } else { "no connection" });
                    (self.lost)(&self.url, &why);
                    for end in ends.iter().flatten() {
                        let _ = end.shutdown(Shutdown::Both);
                    }
                    return;
                }
                // it answered (or refused for another reason, which is not silence): wait longer
                _ => {
                    next_probe = now + backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(300));
                }
            }
        }
    }
}

/// Copies `from` → `to` on a thread of its own, stamping `stamp(traffic)` at every read; at the
/// end of either side, closes both and marks the link closed.
fn pump(mut from: TcpStream, mut to: TcpStream, traffic: Arc<Traffic>, stamp: fn(&Traffic) -> &AtomicU64) {
    let _ = std::thread::Builder::new().name("distillery relay io".into()).spawn(move || {
        let mut buffer = vec![0u8; 64 << 10];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    stamp(&traffic).store(traffic.now(), Ordering::Relaxed);
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        traffic.closed.store(true, Ordering::Relaxed);
        let _ = (from.shutdown(Shutdown::Both), to.shutdown(Shutdown::Both));
    });
}
