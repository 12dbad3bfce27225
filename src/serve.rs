//! The server side of remote devices (`distillery serve`, feature `remote-server`): host this
//! machine's devices for clients that connect with [`DeviceExt::remote`] or `DISTILLERY_REMOTE`.
//!
//! burn-remote does the work: the client keeps the autodiff graph and streams tensor operations
//! over a WebSocket; the server runs them on its devices. We add the safe defaults: a token is
//! required unless asked otherwise, the server listens on 127.0.0.1 unless told another
//! address, and the transport is WebSocket, which is **unencrypted** — use it on a trusted
//! network or through an SSH tunnel / VPN (`ssh -L 3000:localhost:3000 gpu-box`).
//!
//! burn-remote cannot host a libtorch device: on a GPU server build with `--features
//! remote-server,cuda` (burn's CubeCL CUDA backend), or serve the CPU with `flex`.
//!
//! [`DeviceExt::remote`]: crate::device::DeviceExt::remote
use crate::device::{Device, DeviceExt};
use crate::error::{Error, RemoteFailure, Result};
use burn::tensor::server::{RemoteServer, TokenAuthorizer, WebSocketTransport};
use std::net::{SocketAddr, TcpListener};

/// What to serve and how.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The address to listen on; 127.0.0.1 (this machine only) unless told otherwise.
    pub bind: SocketAddr,
    /// The token a client must present; `None` admits every client (only for a network you
    /// trust entirely).
    pub token: Option<String>,
    /// The devices to host, all of one backend; a client picks one by its index.
    pub devices: Vec<Device>,
}

impl ServeConfig {
    /// Every CUDA device when one is compiled in and present, else the CPU (`flex`), on
    /// 127.0.0.1:`port`, with a fresh random token.
    pub fn local(port: u16) -> Self {
        ServeConfig { bind: SocketAddr::from(([127, 0, 0, 1], port)), token: Some(random_token()), devices: default_devices() }
    }
}

/// A running server; dropping it (or [`stop`](Server::stop)) ends its sessions.
pub struct Server {
    /// `ws://host:port`, what a client connects to.
    pub url: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// Binds `config.bind` now (port 0: one the OS picks, read back into [`Server::url`]) and
    /// serves in the background on a tokio runtime of its own.
    pub fn start(config: ServeConfig) -> Result<Server> {
        let (listener, url) = bind(config.bind)?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| setup(&url, format!("cannot start a tokio runtime: {e}")))?;
        let serving = server(&config, &url)?.serve_async(WebSocketTransport::from_listener(listener));
        let shown = url.clone();
        runtime.spawn(async move {
            if let Err(e) = serving.await {
                eprintln!("distillery serve {shown}: {e}");
            }
        });
        Ok(Server { url, runtime: Some(runtime) })
    }

    /// Stops serving now, the way a server that dies does: open sessions see their connection
    /// close.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serves in the foreground until Ctrl+C or SIGTERM (the CLI's `distillery serve`), after
/// printing what a client sets to connect.
pub fn run(config: ServeConfig) -> Result<()> {
    let (listener, url) = bind(config.bind)?;
    let names: Vec<String> = config.devices.iter().map(|d| d.describe()).collect();
    println!("distillery serve: hosting {} on {url}", names.join(", "));
    match &config.token {
        Some(token) => println!("clients connect with:\n  DISTILLERY_REMOTE={url} DISTILLERY_REMOTE_TOKEN={token}"),
        None => println!("no token: every client that reaches {url} is served\nclients connect with:\n  DISTILLERY_REMOTE={url}"),
    }
    if !config.bind.ip().is_loopback() {
        println!("the WebSocket transport is unencrypted: serve on a trusted network, or keep 127.0.0.1 and tunnel (ssh -L)");
    }
    println!("(replace the host with this machine's name as the client sees it; Ctrl+C stops)");
    server(&config, &url)?.serve(WebSocketTransport::from_listener(listener)).map_err(|e| setup(&url, e.to_string()))
}

/// burn's server for `config`'s devices and token.
fn server(config: &ServeConfig, url: &str) -> Result<RemoteServer> {
    crate::error::ensure(!config.devices.is_empty(), "serve.devices", "[]", "host at least one device")?;
    if config.devices.iter().any(|d| d.describe().starts_with("libtorch")) {
        return Err(setup(url, "burn-remote cannot host a libtorch device: build the server with `--features remote-server,cuda` (GPU) or the default flex (CPU)".into()));
    }
    let server = RemoteServer::new(config.devices.clone());
    Ok(match &config.token {
        Some(token) => server.with_authorizer(TokenAuthorizer::new(token.as_str()).map_err(|_| Error::invalid("--token", "\"\"", "a token cannot be empty (use --no-token to admit every client)"))?),
        None => server,
    })
}

/// Binds the listening socket now, so that a client can dial as soon as this returns.
fn bind(address: SocketAddr) -> Result<(TcpListener, String)> {
    let listener = TcpListener::bind(address).map_err(|e| setup(&format!("ws://{address}"), format!("cannot listen: {e}")))?;
    let local = listener.local_addr().map_err(|e| setup(&format!("ws://{address}"), e.to_string()))?;
    Ok((listener, format!("ws://{local}")))
}

fn setup(url: &str, reason: String) -> Error {
    Error::Remote { url: url.into(), kind: RemoteFailure::Setup, reason }
}

/// Every CUDA device when a GPU backend is compiled in and present, else this machine's CPU
/// device (never a remote one, even when `DISTILLERY_REMOTE` is set).
pub fn default_devices() -> Vec<Device> {
    #[cfg(feature = "cuda")]
    if std::path::Path::new("/dev/nvidia0").exists() {
        let count = std::fs::read_dir("/dev").map(|d| d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().strip_prefix("nvidia").is_some_and(|n| n.parse::<u32>().is_ok())).count()).unwrap_or(1);
        return (0..count.max(1)).map(Device::cuda).collect();
    }
    vec![Device::cpu_default()]
}

/// 128 random bits from the OS (getrandom), as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
