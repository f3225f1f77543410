//! Turning the engine's refusals back into the user's terms: which mount (and so which
//! template line) a "bind source path does not exist" means, which published port an
//! "address already in use" means, and which mount or port any other message mentions.

use crate::request::{MountOrigin, PortOrigin};

/// The host path in a "bind source path does not exist: /x" message (Docker 20.10 says
/// `invalid mount config for type "bind": bind source path does not exist: /x`; newer
/// engines say `bind mount source path does not exist: /x`).
#[must_use]
pub fn missing_mount_source(message: &str) -> Option<&str> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("source path does not exist:")?;
    let rest = message[at + "source path does not exist:".len()..].trim();
    let path = rest.split_whitespace().next()?;
    (!path.is_empty()).then_some(path)
}

/// Whether the message says a host port is taken (`address already in use` from the
/// userland proxy, `port is already allocated` from the port allocator).
#[must_use]
pub fn is_port_in_use(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("address already in use") || lower.contains("port is already allocated")
}

/// The mount a missing-source message is about (matching the host path, ignoring a
/// trailing `/`).
#[must_use]
pub fn mount_for_source<'a>(mounts: &'a [MountOrigin], path: &str) -> Option<&'a MountOrigin> {
    let path = path.trim_end_matches('/');
    mounts
        .iter()
        .find(|m| m.host_path.trim_end_matches('/') == path)
}

/// The published port a port-in-use message is about: the first port of the request whose
/// number appears as `:<port>` in the message, preferring one whose host IP appears too.
#[must_use]
pub fn port_in_message<'a>(ports: &'a [PortOrigin], message: &str) -> Option<&'a PortOrigin> {
    let mentioned: Vec<&PortOrigin> = ports
        .iter()
        .filter(|p| mentions_port(message, p.host_port))
        .collect();
    mentioned
        .iter()
        .find(|p| {
            p.host_ip.as_deref().is_some_and(|ip| {
                !ip.is_empty() && message.contains(&format!("{ip}:{}", p.host_port))
            })
        })
        .or_else(|| mentioned.first())
        .copied()
}

/// The origin of whatever mount or port the message mentions (the longest matching mount
/// path wins, so `/data/app` beats `/data`).
#[must_use]
pub fn origin_in_message(
    mounts: &[MountOrigin],
    ports: &[PortOrigin],
    message: &str,
) -> Option<String> {
    let mount = mounts
        .iter()
        .flat_map(|m| [(m, m.host_path.as_str()), (m, m.container_path.as_str())])
        .filter(|(_, path)| path.len() > 1 && mentions_path(message, path))
        .max_by_key(|(_, path)| path.len())
        .map(|(m, _)| m.origin.clone());
    mount.or_else(|| port_in_message(ports, message).map(|p| p.origin.clone()))
}

/// Whether `message` contains `:<port>` not followed by another digit.
fn mentions_port(message: &str, port: u16) -> bool {
    let needle = format!(":{port}");
    message.match_indices(&needle).any(|(at, _)| {
        !message[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Whether `message` contains `path` as a whole path (not as a prefix of a longer name).
fn mentions_path(message: &str, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return false;
    }
    message.match_indices(path).any(|(at, _)| {
        !message[at + path.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(host: &str, container: &str, origin: &str) -> MountOrigin {
        MountOrigin {
            host_path: host.into(),
            container_path: container.into(),
            origin: origin.into(),
        }
    }

    fn port(ip: Option<&str>, n: u16, origin: &str) -> PortOrigin {
        PortOrigin {
            host_ip: ip.map(Into::into),
            host_port: n,
            proto: "tcp".into(),
            origin: origin.into(),
        }
    }

    #[test]
    fn missing_sources_are_found() {
        assert_eq!(
            missing_mount_source(
                "invalid mount config for type \"bind\": bind source path does not exist: /nonexist/x"
            ),
            Some("/nonexist/x")
        );
        assert_eq!(
            missing_mount_source("bind mount source path does not exist: /a/b"),
            Some("/a/b")
        );
        assert_eq!(missing_mount_source("something else"), None);
        let mounts = [mount("/a/b/", "/b", "t.conf:3 (/a/b=/b)")];
        assert_eq!(
            mount_for_source(&mounts, "/a/b").map(|m| m.origin.as_str()),
            Some("t.conf:3 (/a/b=/b)")
        );
    }

    #[test]
    fn ports_in_use_are_found() {
        let docker_proxy = "driver failed programming external connectivity on endpoint x (abc): \
             Error starting userland proxy: listen tcp4 127.0.0.1:18099: bind: address already in use";
        let allocator = "Bind for 0.0.0.0:8080 failed: port is already allocated";
        assert!(is_port_in_use(docker_proxy) && is_port_in_use(allocator));
        assert!(!is_port_in_use("no such image"));
        let ports = [
            port(Some("127.0.0.1"), 1809, "t.conf:5"),
            port(Some("127.0.0.1"), 18099, "t.conf:6"),
            port(None, 8080, "t.conf:7"),
        ];
        assert_eq!(
            port_in_message(&ports, docker_proxy).map(|p| p.origin.as_str()),
            Some("t.conf:6")
        );
        assert_eq!(
            port_in_message(&ports, allocator).map(|p| p.origin.as_str()),
            Some("t.conf:7")
        );
    }

    #[test]
    fn any_mention_names_its_origin() {
        let mounts = [
            mount("/data", "/data", "t.conf:2"),
            mount("/data/app", "/app", "t.conf:3"),
        ];
        assert_eq!(
            origin_in_message(
                &mounts,
                &[],
                "error mounting \"/data/app\" to rootfs at \"/app\""
            ),
            Some("t.conf:3".into())
        );
        assert_eq!(
            origin_in_message(&mounts, &[], "error mounting \"/data2\""),
            None
        );
        assert_eq!(
            origin_in_message(&[], &[port(None, 80, "t.conf:9")], "port 0.0.0.0:80 bad"),
            Some("t.conf:9".into())
        );
    }
}
