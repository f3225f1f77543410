//! Finding and connecting to the Docker engine: the address (flag, tarsnode config,
//! `DOCKER_HOST`, default socket), API version negotiation, the engine's description
//! (`/info`) and the platform it implies, and the translation of bollard's errors.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};

use crate::error::{Error, Limit, Operation, Result};

/// The socket tarsnode and Docker use when nothing else is configured.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The tarsnode config key that names the engine socket.
pub const NODE_CONFIG_SOCKET_KEY: &str = "/tars/node/container<socket>";

/// The tarsnode config key that gives the pull timeout in seconds.
pub const NODE_CONFIG_TIMEOUT_KEY: &str = "/tars/node/container<timeout>";

/// The oldest engine API tarsdock talks to (upstream tarsnode speaks 1.40).
pub const MINIMUM_API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 40,
};

/// Where the engine listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineAddress {
    /// A Unix socket path.
    Unix(PathBuf),
    /// A plain TCP address (`host:port`), from `tcp://` or `http://`.
    Tcp(String),
}

impl EngineAddress {
    /// Parses `unix:///path`, `/path`, `tcp://host:port` or `http://host:port`.
    ///
    /// # Errors
    /// [`Error::BadAddress`] for an empty address, a relative path, or a scheme that needs
    /// TLS or SSH (not built in).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::BadAddress {
            address: text.to_owned(),
            reason: reason.to_owned(),
        };
        let text = text.trim();
        if let Some(path) = text.strip_prefix("unix://") {
            return Self::unix(path).ok_or_else(|| bad("the socket path must be absolute"));
        }
        for scheme in ["tcp://", "http://"] {
            if let Some(rest) = text.strip_prefix(scheme) {
                let rest = rest.trim_end_matches('/');
                if rest.is_empty() {
                    return Err(bad("no host:port"));
                }
                return Ok(Self::Tcp(rest.to_owned()));
            }
        }
        if text.starts_with("https://") || text.starts_with("ssh://") || text.starts_with("npipe:")
        {
            return Err(bad(
                "TLS, SSH and named-pipe engines are not supported; use a Unix socket or tcp://",
            ));
        }
        if text.contains("://") {
            return Err(bad(
                "unknown scheme (expected unix://, tcp:// or a socket path)",
            ));
        }
        Self::unix(text).ok_or_else(|| bad("expected an absolute socket path, unix:// or tcp://"))
    }

    fn unix(path: &str) -> Option<Self> {
        let path = Path::new(path);
        path.is_absolute().then(|| Self::Unix(path.to_path_buf()))
    }

    /// Chooses the address: the explicit one (`--docker-socket`), else the tarsnode config's
    /// `/tars/node/container<socket>`, else `DOCKER_HOST`, else [`DEFAULT_SOCKET`].
    /// Empty values count as absent.
    ///
    /// # Errors
    /// [`Error::BadAddress`] when the chosen value cannot be parsed.
    pub fn resolve(
        explicit: Option<&str>,
        node_config: Option<&[u8]>,
        docker_host: Option<&str>,
    ) -> Result<(Self, AddressSource)> {
        if let Some(value) = present(explicit) {
            return Ok((Self::parse(value)?, AddressSource::Flag));
        }
        if let Some(value) = node_config.and_then(node_config_socket) {
            return Ok((Self::parse(&value)?, AddressSource::NodeConfig));
        }
        if let Some(value) = present(docker_host) {
            return Ok((Self::parse(value)?, AddressSource::DockerHost));
        }
        Ok((
            Self::Unix(PathBuf::from(DEFAULT_SOCKET)),
            AddressSource::Default,
        ))
    }
}

/// A value that is set and not blank.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl fmt::Display for EngineAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

/// Where the engine address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressSource {
    Flag,
    NodeConfig,
    DockerHost,
    Default,
}

/// Reads `/tars/node/container<socket>` from a tarsnode config file's bytes.
#[must_use]
pub fn node_config_socket(bytes: &[u8]) -> Option<String> {
    node_config_value(bytes, NODE_CONFIG_SOCKET_KEY)
}

/// Reads `/tars/node/container<timeout>` (seconds) from a tarsnode config file's bytes.
#[must_use]
pub fn node_config_timeout(bytes: &[u8]) -> Option<Duration> {
    node_config_value(bytes, NODE_CONFIG_TIMEOUT_KEY)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&secs| secs > 0)
        .map(Duration::from_secs)
}

fn node_config_value(bytes: &[u8], key: &str) -> Option<String> {
    let parsed = parser::parse(bytes.to_vec());
    let value = parsed.config.get(key.as_bytes()).ok().flatten()?;
    let value = String::from_utf8_lossy(value).trim().to_owned();
    (!value.is_empty()).then_some(value)
}

/// The platform a service is lowered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// A Linux engine: host network and host IPC.
    Linux,
    /// Docker Desktop (macOS, Windows) or any non-Linux engine: bridge network, published
    /// ports.
    Mac,
}

impl Platform {
    /// `linux` or `mac`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Mac => "mac",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the engine says about itself, reduced to what tarsdock needs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EngineInfo {
    /// The address it was reached at.
    pub address: String,
    /// The engine version (`20.10.24+dfsg1`).
    pub server_version: Option<String>,
    /// The API version in use after negotiation (`1.41`).
    pub api_version: String,
    /// `linux` or `windows`.
    pub os_type: Option<String>,
    /// `Debian GNU/Linux 12 (bookworm)`, `Docker Desktop`, …
    pub operating_system: Option<String>,
    /// Whether this is Docker Desktop.
    pub docker_desktop: bool,
    /// Whether the engine runs rootless (it then refuses host IPC).
    pub rootless: bool,
    /// The platform implied: [`Platform::Mac`] for Docker Desktop or a non-Linux engine.
    pub platform: Platform,
}

impl EngineInfo {
    /// Derives the description from `/info`.
    #[must_use]
    pub fn from_system_info(
        address: String,
        api_version: String,
        info: &bollard::models::SystemInfo,
    ) -> Self {
        let operating_system = info.operating_system.clone();
        let os_type = info.os_type.clone();
        let docker_desktop = operating_system
            .as_deref()
            .is_some_and(|os| os.to_ascii_lowercase().contains("docker desktop"));
        let linux = os_type
            .as_deref()
            .is_none_or(|os| os.eq_ignore_ascii_case("linux"));
        let rootless = info
            .security_options
            .iter()
            .flatten()
            .any(|opt| opt.split(',').any(|part| part == "name=rootless"));
        Self {
            address,
            server_version: info.server_version.clone(),
            api_version,
            os_type,
            operating_system,
            docker_desktop,
            rootless,
            platform: if docker_desktop || !linux {
                Platform::Mac
            } else {
                Platform::Linux
            },
        }
    }
}

/// Connects to the engine and negotiates the API version, the negotiation bounded by
/// `timeout` as a whole.
///
/// bollard speaks API 1.53 by default; an older engine (Docker 20.10 speaks 1.41) is
/// answered at its own version after `GET /version`. Fields newer than the negotiated
/// version are ignored by the engine.
///
/// # Errors
/// [`Error::EngineUnreachable`] when nothing answers (or the path is not a socket),
/// [`Error::Timeout`] when the engine does not answer in `timeout`, [`Error::EngineTooOld`]
/// below [`MINIMUM_API`].
pub(crate) async fn connect(address: &EngineAddress, timeout: Duration) -> Result<Engine> {
    let display = address.to_string();
    let limit = Limit::call(timeout);
    let docker = match address {
        EngineAddress::Unix(path) => {
            check_socket(path).map_err(|reason| Error::EngineUnreachable {
                address: display.clone(),
                reason,
            })?;
            Docker::connect_with_unix(
                &path.to_string_lossy(),
                client_seconds(limit),
                API_DEFAULT_VERSION,
            )
        }
        EngineAddress::Tcp(addr) => {
            Docker::connect_with_http(addr, client_seconds(limit), API_DEFAULT_VERSION)
        }
    }
    .map_err(|e| Error::EngineUnreachable {
        address: display.clone(),
        reason: e.to_string(),
    })?;
    let docker = match tokio::time::timeout(limit.total(), docker.negotiate_version()).await {
        Ok(Ok(docker)) => docker,
        Ok(Err(e)) => return Err(negotiation_error(classify(&e, limit), &display)),
        Err(_) => return Err(negotiation_error(Failure::Timeout(limit), &display)),
    };
    let version = docker.client_version();
    if version < MINIMUM_API {
        return Err(Error::EngineTooOld {
            address: display,
            version: version.to_string(),
            minimum: MINIMUM_API.to_string(),
        });
    }
    Ok(Engine {
        docker,
        address: display,
        timeout,
    })
}

fn negotiation_error(failure: Failure, display: &str) -> Error {
    match failure {
        Failure::Timeout(limit) => Error::Timeout {
            operation: Operation::Connect,
            target: String::new(),
            address: display.to_owned(),
            limit,
        },
        Failure::Server { message, .. } => Error::EngineUnreachable {
            address: display.to_owned(),
            reason: format!("it answered /version with an error: {message}"),
        },
        Failure::Transport(reason) | Failure::Other(reason) => Error::EngineUnreachable {
            address: display.to_owned(),
            reason,
        },
    }
}

/// Whether `path` is something one can connect to: a socket (through links), named by what
/// it is when it is not.
fn check_socket(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt as _;
    let metadata = std::fs::metadata(path).map_err(|e| io_reason(&e))?;
    let kind = metadata.file_type();
    if kind.is_socket() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_file() {
        "a regular file"
    } else if kind.is_fifo() {
        "a named pipe"
    } else {
        "a device"
    };
    Err(format!("not a socket ({} is {what})", path.display()))
}

/// bollard's own timeout (whole seconds) for a client whose calls tarsdock bounds with
/// `limit`: a second longer, so that tarsdock's bound, which covers the body too, is the
/// one that fires and its message is the one shown.
fn client_seconds(limit: Limit) -> u64 {
    limit.total().as_secs().saturating_add(1)
}

/// The engine connection: the bollard client, the address as shown in messages, and the
/// engine timeout. Every call tarsdock makes goes through [`Engine::call`] (bounded as a
/// whole: head and body) or [`Engine::stream`] (bounded by its longest silence); bollard's
/// own timeout covers the reply head only.
#[derive(Clone, Debug)]
pub(crate) struct Engine {
    docker: Docker,
    address: String,
    timeout: Duration,
}

impl Engine {
    /// The bollard client. Calls made on it directly are bounded by nothing but bollard's
    /// head timeout: use [`Engine::call`].
    pub(crate) fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The address, as shown in messages.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The engine timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The limit of an ordinary call.
    pub(crate) fn limit(&self) -> Limit {
        Limit::call(self.timeout)
    }

    /// Runs one engine call, bounded by `limit` as a whole (reply head and body). `call`
    /// gets a client whose own head timeout is no shorter than `limit`.
    pub(crate) async fn call<T, F, Fut>(&self, limit: Limit, call: F) -> Result<T, Failure>
    where
        F: FnOnce(Docker) -> Fut,
        Fut: Future<Output = Result<T, bollard::errors::Error>>,
    {
        let client = if limit.total() > self.timeout {
            self.docker
                .clone()
                .with_timeout(Duration::from_secs(client_seconds(limit)))
        } else {
            self.docker.clone()
        };
        match tokio::time::timeout(limit.total(), call(client)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(classify(&error, limit)),
            Err(_) => Err(Failure::Timeout(limit)),
        }
    }

    /// A stream whose every item must arrive within `limit` of the previous one (or of the
    /// start); a silence that long ends it with [`Failure::Timeout`].
    pub(crate) fn stream<T, S>(
        &self,
        limit: Limit,
        stream: S,
    ) -> impl futures_util::Stream<Item = Result<T, Failure>> + Send + use<T, S>
    where
        S: futures_util::Stream<Item = Result<T, bollard::errors::Error>> + Send,
        T: Send,
    {
        idle_bounded(stream, limit)
    }

    /// The runtime error for a failed `operation` on `target`.
    pub(crate) fn error(&self, failure: Failure, operation: Operation, target: &str) -> Error {
        failure_error(failure, operation, target, &self.address)
    }
}

/// See [`Engine::stream`].
pub(crate) fn idle_bounded<T, S>(
    stream: S,
    limit: Limit,
) -> impl futures_util::Stream<Item = Result<T, Failure>> + Send + use<T, S>
where
    S: futures_util::Stream<Item = Result<T, bollard::errors::Error>> + Send,
    T: Send,
{
    use futures_util::StreamExt as _;
    let stream = Box::pin(stream);
    futures_util::stream::unfold(Some(stream), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(limit.total(), stream.next()).await {
            Ok(Some(Ok(item))) => Some((Ok(item), Some(stream))),
            Ok(Some(Err(error))) => Some((Err(classify(&error, limit)), Some(stream))),
            Ok(None) => None,
            // Silent too long: report it, then end.
            Err(_) => Some((Err(Failure::Timeout(limit)), None)),
        }
    })
}

/// Maps a classified failure of `operation` on `target` to the runtime error.
pub(crate) fn failure_error(
    failure: Failure,
    operation: Operation,
    target: &str,
    address: &str,
) -> Error {
    match failure {
        Failure::Timeout(limit) => Error::Timeout {
            operation,
            target: target.to_owned(),
            address: address.to_owned(),
            limit,
        },
        Failure::Transport(reason) => Error::EngineUnreachable {
            address: address.to_owned(),
            reason,
        },
        Failure::Server { status, message } => Error::EngineRefused {
            operation,
            name: target.to_owned(),
            status: Some(status),
            message,
            origin: None,
        },
        Failure::Other(message) => Error::Engine {
            operation,
            target: target.to_owned(),
            message,
        },
    }
}

/// A bollard error, sorted into what the runtime needs to tell apart.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The engine answered with an HTTP error.
    Server { status: u16, message: String },
    /// The call (or a stream's silence) exceeded this limit.
    Timeout(Limit),
    /// The engine could not be reached (connect failed, connection reset).
    Transport(String),
    /// Anything else (undecodable reply, stream error).
    Other(String),
}

/// Sorts a bollard error; `limit` is the limit the call ran under (bollard's own head
/// timeout reports as that limit).
pub(crate) fn classify(error: &bollard::errors::Error, limit: Limit) -> Failure {
    use bollard::errors::Error as B;
    match error {
        B::DockerResponseServerError {
            status_code,
            message,
        } => Failure::Server {
            status: *status_code,
            message: message.trim().to_owned(),
        },
        B::RequestTimeoutError => Failure::Timeout(limit),
        B::SocketNotFoundError(path) => Failure::Transport(format!("no socket at {path}")),
        B::HyperLegacyError { .. } | B::HyperResponseError { .. } | B::IOError { .. } => {
            Failure::Transport(transport_reason(error))
        }
        B::DockerStreamError { error } => Failure::Other(error.clone()),
        other => Failure::Other(other.to_string()),
    }
}

/// The innermost I/O reason of a transport error ("connection refused", …), else the
/// error's own text.
fn transport_reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut last = error.to_string();
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io_reason(io);
        }
        last = e.to_string();
        current = e.source();
    }
    last
}

fn io_reason(error: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match error.kind() {
        K::NotFound => "no such socket (no such file or directory)".to_owned(),
        K::ConnectionRefused => "connection refused (nothing listens there)".to_owned(),
        K::PermissionDenied => "permission denied (not allowed to use the socket)".to_owned(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            EngineAddress::parse("/var/run/docker.sock").unwrap(),
            EngineAddress::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            EngineAddress::parse("unix:///run/x.sock").unwrap(),
            EngineAddress::Unix("/run/x.sock".into())
        );
        assert_eq!(
            EngineAddress::parse("tcp://127.0.0.1:2375").unwrap(),
            EngineAddress::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            EngineAddress::parse("unix:///run/x.sock")
                .unwrap()
                .to_string(),
            "unix:///run/x.sock"
        );
        for bad in [
            "",
            "docker.sock",
            "https://h:1",
            "ssh://u@h",
            "ftp://x",
            "tcp://",
        ] {
            assert!(EngineAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolution_order() {
        let config = b"<tars>\n<node>\n<container>\nsocket=/node.sock\ntimeout=30\n</container>\n</node>\n</tars>\n";
        let (address, source) =
            EngineAddress::resolve(Some("/flag.sock"), Some(config), Some("unix:///env.sock"))
                .unwrap();
        assert_eq!(
            (address, source),
            (
                EngineAddress::Unix("/flag.sock".into()),
                AddressSource::Flag
            )
        );
        let (address, source) =
            EngineAddress::resolve(None, Some(config), Some("unix:///env.sock")).unwrap();
        assert_eq!(
            (address, source),
            (
                EngineAddress::Unix("/node.sock".into()),
                AddressSource::NodeConfig
            )
        );
        let (address, source) = EngineAddress::resolve(
            Some(" "),
            Some(b"<tars>\n</tars>\n"),
            Some("unix:///env.sock"),
        )
        .unwrap();
        assert_eq!(
            (address, source),
            (
                EngineAddress::Unix("/env.sock".into()),
                AddressSource::DockerHost
            )
        );
        let (address, source) = EngineAddress::resolve(None, None, Some("")).unwrap();
        assert_eq!(
            (address, source),
            (
                EngineAddress::Unix(DEFAULT_SOCKET.into()),
                AddressSource::Default
            )
        );
        assert_eq!(node_config_timeout(config), Some(Duration::from_secs(30)));
        assert_eq!(node_config_timeout(b"<tars>\n</tars>\n"), None);
    }

    #[test]
    fn platform_from_info() {
        let info = |os: &str, os_type: &str, security: &[&str]| bollard::models::SystemInfo {
            operating_system: Some(os.to_owned()),
            os_type: Some(os_type.to_owned()),
            security_options: Some(security.iter().map(|s| (*s).to_owned()).collect()),
            ..Default::default()
        };
        let linux = EngineInfo::from_system_info(
            "a".into(),
            "1.41".into(),
            &info(
                "Debian GNU/Linux 12 (bookworm)",
                "linux",
                &["name=seccomp,profile=default"],
            ),
        );
        assert_eq!(linux.platform, Platform::Linux);
        assert!(!linux.rootless);
        let desktop = EngineInfo::from_system_info(
            "a".into(),
            "1.41".into(),
            &info("Docker Desktop", "linux", &[]),
        );
        assert_eq!(desktop.platform, Platform::Mac);
        assert!(desktop.docker_desktop);
        let windows = EngineInfo::from_system_info(
            "a".into(),
            "1.41".into(),
            &info("Windows", "windows", &[]),
        );
        assert_eq!(windows.platform, Platform::Mac);
        let rootless = EngineInfo::from_system_info(
            "a".into(),
            "1.41".into(),
            &info(
                "Ubuntu",
                "linux",
                &["name=seccomp,profile=default", "name=rootless"],
            ),
        );
        assert!(rootless.rootless);
    }
}
