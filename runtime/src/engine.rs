//! Finding and connecting to the Docker engine: the address (flag, tarsnode config,
//! `DOCKER_HOST`, default socket), API version negotiation, the engine's description
//! (`/info`) and the platform it implies, and the translation of bollard's errors.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};

use crate::error::{Error, Operation, Result};

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

/// Connects to the engine and negotiates the API version.
///
/// bollard speaks API 1.53 by default; an older engine (Docker 20.10 speaks 1.41) is
/// answered at its own version after `GET /version`. Fields newer than the negotiated
/// version are ignored by the engine.
///
/// # Errors
/// [`Error::EngineUnreachable`] when nothing answers, [`Error::Timeout`] when the engine
/// does not answer in `timeout`, [`Error::EngineTooOld`] below [`MINIMUM_API`].
pub async fn connect(address: &EngineAddress, timeout: Duration) -> Result<Docker> {
    let secs = timeout.as_secs().max(1);
    let display = address.to_string();
    let docker = match address {
        EngineAddress::Unix(path) => {
            let path_text = path.to_string_lossy();
            match std::fs::metadata(path) {
                Ok(_) => {}
                Err(e) => {
                    return Err(Error::EngineUnreachable {
                        address: display,
                        reason: io_reason(&e),
                    });
                }
            }
            Docker::connect_with_unix(&path_text, secs, API_DEFAULT_VERSION)
        }
        EngineAddress::Tcp(addr) => Docker::connect_with_http(addr, secs, API_DEFAULT_VERSION),
    }
    .map_err(|e| Error::EngineUnreachable {
        address: display.clone(),
        reason: e.to_string(),
    })?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| match classify(&e) {
            Failure::Timeout => Error::Timeout {
                operation: Operation::Connect,
                target: "(API version negotiation)".to_owned(),
                address: display.clone(),
                after: Duration::from_secs(secs),
            },
            Failure::Server { message, .. } => Error::EngineUnreachable {
                address: display.clone(),
                reason: format!("it answered /version with an error: {message}"),
            },
            Failure::Transport(reason) | Failure::Other(reason) => Error::EngineUnreachable {
                address: display.clone(),
                reason,
            },
        })?;
    let version = docker.client_version();
    if version < MINIMUM_API {
        return Err(Error::EngineTooOld {
            address: display,
            version: version.to_string(),
            minimum: MINIMUM_API.to_string(),
        });
    }
    Ok(docker)
}

/// A bollard error, sorted into what the runtime needs to tell apart.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The engine answered with an HTTP error.
    Server { status: u16, message: String },
    /// The request timed out.
    Timeout,
    /// The engine could not be reached (connect failed, connection reset).
    Transport(String),
    /// Anything else (undecodable reply, stream error).
    Other(String),
}

pub(crate) fn classify(error: &bollard::errors::Error) -> Failure {
    use bollard::errors::Error as B;
    match error {
        B::DockerResponseServerError {
            status_code,
            message,
        } => Failure::Server {
            status: *status_code,
            message: message.trim().to_owned(),
        },
        B::RequestTimeoutError => Failure::Timeout,
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
