//! Tars endpoints (`tcp -h 192.168.1.10 -p 10001 -t 60000`), read the way TarsCpp's
//! `TC_Endpoint::parse` reads them: a transport word, then `-x value` options.

use std::fmt;

use crate::ir::Proto;

/// The transport of an endpoint. `ssl` is TLS over TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
    Ssl,
}

impl Transport {
    /// The protocol Docker publishes it with (`ssl` is tcp).
    #[must_use]
    pub const fn proto(self) -> Proto {
        match self {
            Self::Tcp | Self::Ssl => Proto::Tcp,
            Self::Udp => Proto::Udp,
        }
    }
}

/// The parts of an endpoint that a container plan needs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
}

/// Why an endpoint could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointError {
    /// Nothing but spaces.
    Empty,
    /// The first word is not `tcp`, `udp` or `ssl`.
    Transport(String),
    /// An option without its value, such as a trailing `-p`.
    MissingValue(String),
    /// No `-h`.
    NoHost,
    /// No `-p`.
    NoPort,
    /// `-p` is not a port number 1–65535.
    BadPort(String),
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the endpoint is empty"),
            Self::Transport(t) => write!(f, "`{t}` is not tcp, udp or ssl"),
            Self::MissingValue(o) => write!(f, "option `{o}` has no value"),
            Self::NoHost => f.write_str("no host (`-h`)"),
            Self::NoPort => f.write_str("no port (`-p`)"),
            Self::BadPort(p) => write!(f, "port `{p}` is not a number from 1 to 65535"),
        }
    }
}

impl std::error::Error for EndpointError {}

impl Endpoint {
    /// Parses `tcp|udp|ssl [-h host] [-p port] [-t timeout] ...`. Options other than `-h` and
    /// `-p` are skipped with their value; a bare flag is accepted when the next word is another
    /// option.
    ///
    /// # Errors
    /// When the transport, host or port is missing or unreadable.
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        let mut words = text.split_ascii_whitespace().peekable();
        let transport = match words.next() {
            None => return Err(EndpointError::Empty),
            Some(word) => match word.to_ascii_lowercase().as_str() {
                "tcp" => Transport::Tcp,
                "udp" => Transport::Udp,
                "ssl" => Transport::Ssl,
                _ => return Err(EndpointError::Transport(word.to_owned())),
            },
        };
        let mut host = None;
        let mut port = None;
        while let Some(word) = words.next() {
            if !word.starts_with('-') {
                continue;
            }
            let value = match words.peek() {
                Some(next) if !next.starts_with('-') => words.next(),
                _ => None,
            };
            match (word, value) {
                ("-h", Some(v)) => host = Some(v.to_owned()),
                ("-p", Some(v)) => port = Some(v.to_owned()),
                ("-h" | "-p", None) => return Err(EndpointError::MissingValue(word.to_owned())),
                _ => {}
            }
        }
        let host = host.ok_or(EndpointError::NoHost)?;
        let port_text = port.ok_or(EndpointError::NoPort)?;
        let port = port_text
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(EndpointError::BadPort(port_text))?;
        Ok(Self {
            transport,
            host,
            port,
        })
    }
}

/// Upstream's `hostIp()` rewrite: every `127.0.0.1` and `localhost` in `text` replaced by
/// `host`. Returns `None` when nothing changes.
#[must_use]
pub fn rewrite_loopback(text: &str, host: &str) -> Option<String> {
    let rewritten = crate::paths::replace_all(
        &crate::paths::replace_all(text, "127.0.0.1", host),
        "localhost",
        host,
    );
    (rewritten != text).then_some(rewritten)
}

/// Where tarsdock (or any process on the host) reaches a service's admin servant `AdminObj`,
/// given its `local` endpoint as configured, or `None` when it cannot be reached by address.
///
/// tarsnode connects to `local` with the host forced to `127.0.0.1` in container mode (it
/// writes `0.0.0.0` there); tarsdock does the same where that is where the server listens:
/// - an unspecified host (`0.0.0.0`, `::`, `*`), `localhost` or any loopback address →
///   `127.0.0.1` (`::1` for `::`): on the host network that is the server's own socket, on a
///   bridge it is the host-loopback port the plan publishes `local` on;
/// - another IP address on the host network → that address (the server binds only there);
///   on a bridge → `127.0.0.1`, where the plan publishes it;
/// - a host name, or a `udp` endpoint → `None`: the runtime resolves no names, and `AdminObj`
///   speaks TCP. The stop then goes straight to the engine.
#[must_use]
pub fn admin_address(local: &Endpoint, target: crate::ir::Target) -> Option<(String, u16)> {
    if local.transport == Transport::Udp {
        return None;
    }
    let host = local.host.trim_matches(|c| c == '[' || c == ']');
    let loopback = match host {
        "*" | "localhost" => "127.0.0.1",
        _ => match host.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V6(ip) if ip.is_unspecified() || ip.is_loopback() => "::1",
            ip if ip.is_unspecified() || ip.is_loopback() => "127.0.0.1",
            ip => match target {
                crate::ir::Target::Linux => return Some((ip.to_string(), local.port)),
                crate::ir::Target::Mac => "127.0.0.1",
            },
        },
    };
    Some((loopback.to_owned(), local.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tars_endpoints() {
        let ep = Endpoint::parse("tcp -h 192.168.1.10 -p 10001 -t 60000").unwrap();
        assert_eq!(ep.transport, Transport::Tcp);
        assert_eq!(ep.host, "192.168.1.10");
        assert_eq!(ep.port, 10001);
        let ep = Endpoint::parse("udp  -t 60000 -p 7 -h 0.0.0.0 -e").unwrap();
        assert_eq!((ep.transport.proto(), ep.port), (Proto::Udp, 7));
        assert_eq!(
            Endpoint::parse("ssl -h a -p 1").unwrap().transport.proto(),
            Proto::Tcp
        );
    }

    #[test]
    fn reports_unreadable_endpoints() {
        assert_eq!(Endpoint::parse("  "), Err(EndpointError::Empty));
        assert_eq!(
            Endpoint::parse("http -h a -p 1"),
            Err(EndpointError::Transport("http".into()))
        );
        assert_eq!(Endpoint::parse("tcp -p 1"), Err(EndpointError::NoHost));
        assert_eq!(Endpoint::parse("tcp -h a"), Err(EndpointError::NoPort));
        assert_eq!(
            Endpoint::parse("tcp -h a -p"),
            Err(EndpointError::MissingValue("-p".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp -h a -p 0"),
            Err(EndpointError::BadPort("0".into()))
        );
    }

    #[test]
    fn admin_address_is_where_the_host_reaches_adminobj() {
        use crate::ir::Target::{Linux, Mac};
        let at = |text: &str, target| admin_address(&Endpoint::parse(text).unwrap(), target);
        let local = |host: &str| Some((host.to_owned(), 30001));
        // tarsnode's container-mode `local`, and a native one: loopback either way.
        assert_eq!(
            at("tcp -h 0.0.0.0 -p 30001 -t 10000", Linux),
            local("127.0.0.1")
        );
        assert_eq!(at("tcp -h 0.0.0.0 -p 30001", Mac), local("127.0.0.1"));
        assert_eq!(at("tcp -h 127.0.0.1 -p 30001", Linux), local("127.0.0.1"));
        assert_eq!(at("tcp -h localhost -p 30001", Linux), local("127.0.0.1"));
        assert_eq!(at("tcp -h :: -p 30001", Linux), local("::1"));
        // A specific address: the server binds only there on the host network; a bridge
        // publishes `local` on host loopback.
        assert_eq!(at("tcp -h 10.0.0.5 -p 30001", Linux), local("10.0.0.5"));
        assert_eq!(at("tcp -h 10.0.0.5 -p 30001", Mac), local("127.0.0.1"));
        // No names, no UDP.
        assert_eq!(at("tcp -h node-1 -p 30001", Linux), None);
        assert_eq!(at("udp -h 127.0.0.1 -p 30001", Linux), None);
    }

    #[test]
    fn loopback_rewrite_is_textual_like_upstream() {
        assert_eq!(
            rewrite_loopback(
                "Q@tcp -h 127.0.0.1 -p 1:tcp -h localhost -p 2",
                "host.docker.internal"
            ),
            Some("Q@tcp -h host.docker.internal -p 1:tcp -h host.docker.internal -p 2".into())
        );
        assert_eq!(rewrite_loopback("tcp -h 10.0.0.1 -p 1", "x"), None);
    }
}
