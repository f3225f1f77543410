//! `<ports>` lines (`80/tcp=192.168.0.1:80`): the key and value grammars (Docker's nat rules,
//! anchors §2.1), the checks that need only the template, the ports tarsnode publishes for the
//! service's endpoints, and host-port conflicts.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use nom::Parser as _;
use nom::bytes::complete::take_till;
use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, opt, rest};
use nom::sequence::{delimited, preceded};
use parser::{Config, Diagnostic, Span};

use crate::codes::ports as codes;
use crate::field::{Field, Line};
use crate::ir::{PortBinding, PortOrigin, PortRange, Proto, TemplateLine};

/// The path of the ports domain.
pub const PORTS_PATH: &[u8] = b"/tars/application/container/ports";

/// A container port (or range) with its protocol: the key of a `<ports>` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortKey {
    pub ports: PortRange,
    pub proto: Proto,
}

impl std::fmt::Display for PortKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ports, self.proto)
    }
}

/// Where to publish: the value of a `<ports>` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAddress {
    /// The address without brackets; empty for every interface.
    pub ip: String,
    pub port: PortRange,
}

impl std::fmt::Display for HostAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ip.contains(':') {
            write!(f, "[{}]:{}", self.ip, self.port)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
    }
}

/// Why a port number or range was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberProblem {
    Empty,
    NotANumber,
    /// Above 65535.
    OutOfRange,
    /// Port 0 where a real port is needed.
    Zero,
    /// `start-end` with `start > end`.
    Reversed,
}

impl NumberProblem {
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Empty => "no port here",
            Self::NotANumber => "not a decimal port number",
            Self::OutOfRange => "value out of range (0-65535)",
            Self::Zero => "port 0 is not a port",
            Self::Reversed => "the range ends before it starts",
        }
    }
}

/// A problem in a key, with the byte range (into the key) it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    Port(Range<usize>, NumberProblem),
    Proto(Range<usize>),
}

/// A problem in a value, with the byte range (into the value) it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueProblem {
    /// No `:` at all: upstream drops the line.
    NoColon,
    /// `[` without `]`, or text between `]` and `:`.
    Brackets(Range<usize>),
    /// Not an IP address (`unbracketed` when it looks like IPv6 without brackets).
    Ip {
        range: Range<usize>,
        unbracketed: bool,
    },
    Port(Range<usize>, NumberProblem),
}

/// Parses a key: `port[-port][/proto]`, proto `tcp`, `udp` or `sctp` in any case (default tcp).
///
/// # Errors
/// Every problem found, in text order.
pub fn parse_key(text: &str) -> Result<PortKey, Vec<KeyProblem>> {
    let (ports_text, proto_text) = split_once(text, '/');
    let mut problems = Vec::new();
    let ports = match parse_range(ports_text, false) {
        Ok(range) => Some(range),
        Err((range, problem)) => {
            problems.push(KeyProblem::Port(range, problem));
            None
        }
    };
    let proto = match proto_text {
        None => Some(Proto::Tcp),
        Some(p) => {
            let start = ports_text.len() + 1;
            match p.to_ascii_lowercase().as_str() {
                "tcp" => Some(Proto::Tcp),
                "udp" => Some(Proto::Udp),
                "sctp" => Some(Proto::Sctp),
                _ => {
                    problems.push(KeyProblem::Proto(start..start + p.len()));
                    None
                }
            }
        }
    };
    match (ports, proto) {
        (Some(ports), Some(proto)) if problems.is_empty() => Ok(PortKey { ports, proto }),
        _ => Err(problems),
    }
}

/// Parses a value: `ip:port`, `:port`, `[ipv6]:port`, where port may be `start-end` and `0`
/// asks for an ephemeral port.
///
/// # Errors
/// Every problem found, in text order.
pub fn parse_value(text: &str) -> Result<HostAddress, Vec<ValueProblem>> {
    let bracketed: nom::IResult<&str, (&str, Option<&str>)> = (
        delimited(char('['), take_till(|c| c == ']'), char(']')),
        opt(preceded(char(':'), rest)),
    )
        .parse(text);
    let (ip, ip_range, port_text, port_start, mut problems) = match bracketed {
        Ok(("", (ip, Some(port)))) => (ip, 1..1 + ip.len(), port, ip.len() + 3, Vec::new()),
        Ok((after, (ip, _))) => {
            // `]` is followed by something other than `:port`.
            let end = text.len() - after.len();
            let problem = ValueProblem::Brackets(ip.len() + 2..end.max(ip.len() + 2));
            return Err(vec![if after.is_empty() {
                ValueProblem::NoColon
            } else {
                problem
            }]);
        }
        Err(_) if text.starts_with('[') => {
            return Err(vec![ValueProblem::Brackets(0..text.len())]);
        }
        Err(_) => {
            // Upstream splits at the last `:`.
            let Some(colon) = text.rfind(':') else {
                return Err(vec![ValueProblem::NoColon]);
            };
            (
                &text[..colon],
                0..colon,
                &text[colon + 1..],
                colon + 1,
                Vec::new(),
            )
        }
    };
    let bracketed_form = text.starts_with('[');
    let ip_ok = if ip.is_empty() && !bracketed_form {
        true
    } else if bracketed_form {
        ip.parse::<Ipv6Addr>().is_ok()
    } else {
        ip.parse::<Ipv4Addr>().is_ok()
    };
    if !ip_ok {
        let unbracketed = !bracketed_form && ip.parse::<Ipv6Addr>().is_ok();
        problems.push(ValueProblem::Ip {
            range: ip_range,
            unbracketed,
        });
    }
    let port = match parse_range(port_text, true) {
        Ok(port) => Some(port),
        Err((range, problem)) => {
            problems.push(ValueProblem::Port(
                range.start + port_start..range.end + port_start,
                problem,
            ));
            None
        }
    };
    match port {
        Some(port) if problems.is_empty() => Ok(HostAddress {
            ip: ip.to_owned(),
            port,
        }),
        _ => Err(problems),
    }
}

fn split_once(text: &str, separator: char) -> (&str, Option<&str>) {
    let parsed: nom::IResult<&str, (&str, Option<&str>)> = (
        take_till(|c| c == separator),
        opt(preceded(char(separator), rest)),
    )
        .parse(text);
    match parsed {
        Ok((_, pair)) => pair,
        Err(_) => (text, None),
    }
}

/// `port` or `start-end`. `allow_zero` admits a single `0` (an ephemeral host port).
fn parse_range(text: &str, allow_zero: bool) -> Result<PortRange, (Range<usize>, NumberProblem)> {
    let (start_text, end_text) = split_once(text, '-');
    let start = parse_number(start_text).map_err(|p| (0..start_text.len(), p))?;
    let Some(end_text) = end_text else {
        if start == 0 && !allow_zero {
            return Err((0..text.len(), NumberProblem::Zero));
        }
        return Ok(PortRange::single(start));
    };
    let offset = start_text.len() + 1;
    let end = parse_number(end_text).map_err(|p| (offset..offset + end_text.len(), p))?;
    if start == 0 {
        return Err((0..start_text.len(), NumberProblem::Zero));
    }
    if end < start {
        return Err((0..text.len(), NumberProblem::Reversed));
    }
    Ok(PortRange { start, end })
}

fn parse_number(text: &str) -> Result<u16, NumberProblem> {
    if text.is_empty() {
        return Err(NumberProblem::Empty);
    }
    let digits: nom::IResult<&str, &str> = all_consuming(digit1).parse(text);
    let Ok((_, digits)) = digits else {
        return Err(NumberProblem::NotANumber);
    };
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > 5 {
        return Err(NumberProblem::OutOfRange);
    }
    trimmed
        .parse::<u32>()
        .map_or(Ok(0), Ok)
        .and_then(|n| u16::try_from(n).map_err(|_| NumberProblem::OutOfRange))
}

/// A valid `<ports>` line, expanded into bindings.
#[derive(Clone, Debug)]
pub(crate) struct TemplatePort {
    pub(crate) bindings: Vec<PortBinding>,
    pub(crate) origin: TemplateLine,
    pub(crate) value_span: Span,
}

/// Checks every `<ports>` line that can be checked without knowing the service, and returns the
/// lines that can be published. Host-port conflicts between template lines and privileged host
/// ports are reported here too.
pub(crate) fn check_template(config: &Config, out: &mut Vec<Diagnostic>) -> Vec<TemplatePort> {
    let Ok(Some(domain)) = config.domain(PORTS_PATH) else {
        return Vec::new();
    };
    let fallback = domain.open_spans().first().copied().unwrap_or_default();
    let mut ports = Vec::new();
    for param in domain.params() {
        let line = Line::new(config, param, fallback);
        if let Some(port) = check_line(&line, out) {
            ports.push(port);
        }
    }
    let mut taken = Taken::default();
    for port in &ports {
        for binding in &port.bindings {
            taken.report_conflict(binding, port.value_span, out);
            taken.add(binding, port.value_span, "another `<ports>` line");
        }
        if let Some(low) = port
            .bindings
            .iter()
            .map(|b| b.host_port)
            .find(|r| r.start != 0 && r.start < 1024)
        {
            out.push(codes::privileged_host_port(port.value_span, low.start));
        }
    }
    ports
}

fn check_line(line: &Line<'_>, out: &mut Vec<Diagnostic>) -> Option<TemplatePort> {
    let key_text = String::from_utf8_lossy(line.key.bytes);
    let value = line.value;
    let value_text = value.map_or_else(String::new, |v| String::from_utf8_lossy(v.bytes).into());
    let value_span = match value {
        Some(v) if !v.span.is_empty() => v.span,
        _ => line.origin.line,
    };
    let key = parse_key(&key_text);
    let address = parse_value(&value_text);

    let before = out.len();
    if let Err(problems) = &key {
        for problem in problems {
            out.push(key_diagnostic(line.key, &key_text, problem));
        }
    }
    match &address {
        Err(problems) if problems.contains(&ValueProblem::NoColon) => {
            let suggested = suggested_host_port(&value_text, key.as_ref().ok(), &key_text);
            out.push(codes::port_without_host_address(
                value_span,
                &key_text,
                &value_text,
                &suggested,
            ));
        }
        Err(problems) => {
            if let Some(field) = value {
                for problem in problems {
                    out.push(value_diagnostic(field, &value_text, problem));
                }
            }
        }
        Ok(_) => {}
    }
    if out.len() > before {
        return None;
    }
    let (Ok(key), Ok(address)) = (key, address) else {
        return None;
    };
    let container = key.ports;
    let host = address.port;
    if !container.is_single() && container.span() != host.span() {
        let help = if host.is_single() {
            format!(
                "write `{key_text}={}:{}-{}`",
                bracket(&address.ip),
                host.start,
                u32::from(host.start) + u32::from(container.span())
            )
        } else {
            "use ranges of the same length".to_owned()
        };
        out.push(codes::port_range_mismatch(
            line.origin.line,
            &container.to_string(),
            &host.to_string(),
            &help,
        ));
        return None;
    }
    let origin = PortOrigin::Template(line.origin);
    let bindings = if container.is_single() {
        vec![PortBinding {
            container_port: container.start,
            proto: key.proto,
            host_ip: address.ip.clone(),
            host_port: host,
            origin,
        }]
    } else {
        (0..=container.span())
            .map(|i| PortBinding {
                container_port: container.start + i,
                proto: key.proto,
                host_ip: address.ip.clone(),
                host_port: PortRange::single(host.start + i),
                origin: origin.clone(),
            })
            .collect()
    };
    Some(TemplatePort {
        bindings,
        origin: line.origin,
        value_span,
    })
}

fn bracket(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_owned()
    }
}

/// The host port to suggest for a value without `:`: the value itself when it is a port,
/// otherwise the container port.
fn suggested_host_port(value: &str, key: Option<&PortKey>, key_text: &str) -> String {
    if parse_range(value, true).is_ok() {
        return value.to_owned();
    }
    match key {
        Some(k) => k.ports.to_string(),
        None => key_text.split('/').next().unwrap_or(key_text).to_owned(),
    }
}

fn key_diagnostic(field: Field<'_>, text: &str, problem: &KeyProblem) -> Diagnostic {
    match problem {
        KeyProblem::Port(range, reason) => {
            let part = text.get(range.clone()).unwrap_or(text);
            let help = match reason {
                NumberProblem::Reversed => {
                    let (a, b) = split_once(part, '-');
                    format!("write `{}-{a}`", b.unwrap_or(a))
                }
                NumberProblem::Zero => "use the port the service listens on (1-65535)".to_owned(),
                _ => "write the container port as a number, e.g. `80/tcp` or `8000-8010/udp`"
                    .to_owned(),
            };
            codes::invalid_container_port(
                field.sub(range.start, range.end),
                text,
                reason.describe(),
                &help,
            )
        }
        KeyProblem::Proto(range) => {
            let part = text.get(range.clone()).unwrap_or(text);
            let span = if part.is_empty() {
                field.span
            } else {
                field.sub(range.start, range.end)
            };
            codes::invalid_port_protocol(span, part)
        }
    }
}

fn value_diagnostic(field: Field<'_>, text: &str, problem: &ValueProblem) -> Diagnostic {
    let span = |r: &Range<usize>| field.sub(r.start, r.end);
    match problem {
        ValueProblem::NoColon => codes::invalid_host_ip(
            field.span,
            text,
            "expected `host_ip:host_port`",
            "write `0.0.0.0:<port>`",
        ),
        ValueProblem::Brackets(r) => codes::invalid_host_ip(
            span(r),
            text,
            "expected `[ipv6]:port`",
            "write an IPv6 address as `[::1]:8080`",
        ),
        ValueProblem::Ip { range, unbracketed } => {
            let ip = text.get(range.clone()).unwrap_or(text);
            let port = text.get(range.end + 1..).unwrap_or_default();
            let (reason, help) = if *unbracketed {
                (
                    "an IPv6 address needs brackets",
                    format!("write `[{ip}]:{port}`"),
                )
            } else if text.starts_with('[') {
                (
                    "not an IPv6 address",
                    format!("write an IPv4 address without brackets, e.g. `{ip}:{port}`"),
                )
            } else if ip == "localhost" {
                ("not an IP address", format!("write `127.0.0.1:{port}`"))
            } else {
                (
                    "not an IP address",
                    format!(
                        "write an IP address such as `0.0.0.0:{port}`, or `:{port}` for every interface"
                    ),
                )
            };
            codes::invalid_host_ip(span(range), ip, reason, &help)
        }
        ValueProblem::Port(range, reason) => {
            let part = text.get(range.clone()).unwrap_or(text);
            let help = match reason {
                NumberProblem::Empty => {
                    "give the host port, or `0` for an ephemeral port".to_owned()
                }
                NumberProblem::Reversed => {
                    let (a, b) = split_once(part, '-');
                    format!("write `{}-{a}`", b.unwrap_or(a))
                }
                _ => "write the host port as a number from 1 to 65535".to_owned(),
            };
            let shown = if part.is_empty() { text } else { part };
            codes::invalid_host_port(span(range), shown, reason.describe(), &help)
        }
    }
}

/// A service endpoint that tarsnode publishes on a bridged network.
#[derive(Clone, Debug)]
pub(crate) struct AutomaticPort {
    pub(crate) binding: PortBinding,
    /// Where the endpoint is written, for diagnostics.
    pub(crate) span: Span,
    pub(crate) what: String,
}

/// Combines automatic and template bindings as tarsnode does on a bridged network: template
/// lines replace automatic bindings with the same `port/proto`; conflicts involving an
/// automatic binding are reported (conflicts between template lines were reported by
/// [`check_template`]). Sorted by container port, protocol, host address and host port.
pub(crate) fn combine(
    automatic: Vec<AutomaticPort>,
    template: &[TemplatePort],
    out: &mut Vec<Diagnostic>,
) -> Vec<PortBinding> {
    let mut kept: Vec<AutomaticPort> = Vec::new();
    for auto in automatic {
        let overriding = template.iter().find(|t| {
            t.bindings.iter().any(|b| {
                b.container_port == auto.binding.container_port && b.proto == auto.binding.proto
            })
        });
        if let Some(line) = overriding {
            out.push(codes::port_overrides_endpoint(
                line.origin.line,
                &auto.binding.key(),
                &auto.what,
            ));
            continue;
        }
        // Upstream keys its map by `port/proto`: a second endpoint on the same key replaces the
        // first (an adapter and the admin port on one port cannot both listen anyway).
        if let Some(i) = kept
            .iter()
            .position(|k| k.binding.key() == auto.binding.key())
        {
            kept.remove(i);
        }
        kept.push(auto);
    }
    // Automatic bindings against the earlier ones, then each template line against the
    // automatic ones only (template lines among themselves: `check_template`).
    let mut automatic = Taken::default();
    for auto in &kept {
        automatic.report_conflict(&auto.binding, auto.span, out);
        automatic.add(&auto.binding, auto.span, &auto.what);
    }
    for port in template {
        for binding in &port.bindings {
            automatic.report_conflict(binding, port.value_span, out);
        }
    }
    let mut bindings: Vec<PortBinding> = kept.into_iter().map(|a| a.binding).collect();
    bindings.extend(template.iter().flat_map(|t| t.bindings.iter().cloned()));
    bindings.sort_by(|a, b| {
        (a.container_port, a.proto, &a.host_ip, a.host_port).cmp(&(
            b.container_port,
            b.proto,
            &b.host_ip,
            b.host_port,
        ))
    });
    bindings
}

/// Single, non-ephemeral host ports already bound, by protocol and port, each bucket in the
/// order the bindings were added. Only a binding on the same protocol and port can clash, so a
/// lookup compares addresses within one (almost always one-entry) bucket instead of with every
/// earlier binding: linear in the number of lines, not quadratic.
#[derive(Default)]
struct Taken<'a> {
    by_port: HashMap<(Proto, u16), Vec<Bound<'a>>>,
}

/// A binding that took a host port: where it is written and what it is, for the message.
type Bound<'a> = (&'a PortBinding, Span, &'a str);

impl<'a> Taken<'a> {
    /// The bucket of `binding`: only a single, non-ephemeral host port can be taken.
    fn key(binding: &PortBinding) -> Option<(Proto, u16)> {
        (binding.host_port.is_single() && binding.host_port.start != 0)
            .then_some((binding.proto, binding.host_port.start))
    }

    fn add(&mut self, binding: &'a PortBinding, span: Span, what: &'a str) {
        if let Some(key) = Self::key(binding) {
            self.by_port
                .entry(key)
                .or_default()
                .push((binding, span, what));
        }
    }

    /// Reports `binding` when its host port is already taken, naming the first binding that
    /// took it.
    fn report_conflict(&self, binding: &PortBinding, span: Span, out: &mut Vec<Diagnostic>) {
        let clash = Self::key(binding)
            .and_then(|key| self.by_port.get(&key))
            .and_then(|bucket| {
                bucket
                    .iter()
                    .find(|(other, _, _)| addresses_overlap(&other.host_ip, &binding.host_ip))
            });
        if let Some((other, other_span, what)) = clash {
            let address = HostAddress {
                ip: binding.host_ip.clone(),
                port: binding.host_port,
            };
            out.push(codes::host_port_conflict(
                span,
                &format!("`{address}/{}`", binding.proto),
                (*other_span != span && !other_span.is_empty()).then_some(*other_span),
                &format!("{what} (`{}`)", other.key()),
            ));
        }
    }
}

/// Whether two host addresses can collide: equal addresses, or a wildcard (`""` for every
/// interface, `0.0.0.0` for every IPv4 one, `::` for every IPv6 one) covering the other.
#[must_use]
pub fn addresses_overlap(a: &str, b: &str) -> bool {
    let parse = |s: &str| s.parse::<IpAddr>().ok();
    match (parse(a), parse(b)) {
        _ if a.is_empty() || b.is_empty() => true,
        (Some(x), Some(y)) => {
            x == y
                || match (x, y) {
                    (IpAddr::V4(x), IpAddr::V4(y)) => x.is_unspecified() || y.is_unspecified(),
                    (IpAddr::V6(x), IpAddr::V6(y)) => x.is_unspecified() || y.is_unspecified(),
                    _ => false,
                }
        }
        _ => a == b,
    }
}

/// The bindings of the plan by key, for output in the Engine API shape.
#[must_use]
pub fn by_key(bindings: &[PortBinding]) -> BTreeMap<String, Vec<&PortBinding>> {
    let mut map: BTreeMap<String, Vec<&PortBinding>> = BTreeMap::new();
    for binding in bindings {
        map.entry(binding.key()).or_default().push(binding);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pairwise definition [`Taken`] replaces: each binding against every earlier one.
    fn pairwise(bindings: &[(PortBinding, Span)]) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for (i, (binding, span)) in bindings.iter().enumerate() {
            if !binding.host_port.is_single() || binding.host_port.start == 0 {
                continue;
            }
            let clash = bindings[..i].iter().find(|(other, _)| {
                other.proto == binding.proto
                    && other.host_port == binding.host_port
                    && addresses_overlap(&other.host_ip, &binding.host_ip)
            });
            if let Some((other, other_span)) = clash {
                let address = HostAddress {
                    ip: binding.host_ip.clone(),
                    port: binding.host_port,
                };
                out.push(codes::host_port_conflict(
                    *span,
                    &format!("`{address}/{}`", binding.proto),
                    (other_span != span && !other_span.is_empty()).then_some(*other_span),
                    &format!("earlier (`{}`)", other.key()),
                ));
            }
        }
        out
    }

    #[test]
    fn hashed_conflicts_equal_the_pairwise_definition() {
        const IPS: [&str; 7] = ["", "0.0.0.0", "::", "127.0.0.1", "::1", "10.0.0.1", "x"];
        const PROTOS: [Proto; 3] = [Proto::Tcp, Proto::Udp, Proto::Sctp];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % n).unwrap()
        };
        let mut conflicts = 0;
        for round in 0..2000 {
            let len = 1 + round % 40;
            let bindings: Vec<(PortBinding, Span)> = (0..len)
                .map(|i| {
                    let start = [0u16, 80, 80, 443, 8080][next(5)];
                    let end = if next(6) == 0 { start + 5 } else { start };
                    let binding = PortBinding {
                        container_port: 80,
                        proto: PROTOS[next(3)],
                        host_ip: IPS[next(7)].to_owned(),
                        host_port: PortRange { start, end },
                        origin: PortOrigin::LocalAdmin { line: None },
                    };
                    let at = u32::try_from(i * 10).unwrap();
                    (binding, Span::new(at, at + next(3) as u32))
                })
                .collect();
            let mut taken = Taken::default();
            let mut hashed = Vec::new();
            for (binding, span) in &bindings {
                taken.report_conflict(binding, *span, &mut hashed);
                taken.add(binding, *span, "earlier");
            }
            assert_eq!(hashed, pairwise(&bindings), "round {round}");
            conflicts += hashed.len();
        }
        // The generator must reach the interesting case.
        assert!(conflicts > 5000, "only {conflicts} conflicts generated");
    }

    #[test]
    fn keys() {
        assert_eq!(
            parse_key("80/tcp"),
            Ok(PortKey {
                ports: PortRange::single(80),
                proto: Proto::Tcp
            })
        );
        assert_eq!(parse_key("53/UDP").map(|k| k.proto), Ok(Proto::Udp));
        assert_eq!(parse_key("8080").map(|k| k.proto), Ok(Proto::Tcp));
        assert_eq!(
            parse_key("8000-8010/sctp").map(|k| k.ports),
            Ok(PortRange {
                start: 8000,
                end: 8010
            })
        );
        assert_eq!(
            parse_key("http/tcp"),
            Err(vec![KeyProblem::Port(0..4, NumberProblem::NotANumber)])
        );
        assert_eq!(
            parse_key("0/tcp"),
            Err(vec![KeyProblem::Port(0..1, NumberProblem::Zero)])
        );
        assert_eq!(
            parse_key("70000/x"),
            Err(vec![
                KeyProblem::Port(0..5, NumberProblem::OutOfRange),
                KeyProblem::Proto(6..7)
            ])
        );
        assert_eq!(
            parse_key("90-80"),
            Err(vec![KeyProblem::Port(0..5, NumberProblem::Reversed)])
        );
        assert_eq!(parse_key("80/"), Err(vec![KeyProblem::Proto(3..3)]));
        assert_eq!(
            parse_key(""),
            Err(vec![KeyProblem::Port(0..0, NumberProblem::Empty)])
        );
    }

    #[test]
    fn values() {
        let v = parse_value("192.168.0.1:80").unwrap();
        assert_eq!(
            (v.ip.as_str(), v.port),
            ("192.168.0.1", PortRange::single(80))
        );
        assert_eq!(parse_value(":80").unwrap().ip, "");
        assert_eq!(parse_value("[::1]:80").unwrap().ip, "::1");
        assert_eq!(
            parse_value("0.0.0.0:9000-9010").unwrap().port,
            PortRange {
                start: 9000,
                end: 9010
            }
        );
        assert_eq!(parse_value("0.0.0.0:0").unwrap().port, PortRange::single(0));
        assert_eq!(parse_value("8080"), Err(vec![ValueProblem::NoColon]));
        assert_eq!(parse_value(""), Err(vec![ValueProblem::NoColon]));
        assert_eq!(
            parse_value("1.2.3.4:80a"),
            Err(vec![ValueProblem::Port(8..11, NumberProblem::NotANumber)])
        );
        assert_eq!(
            parse_value("::1:80"),
            Err(vec![ValueProblem::Ip {
                range: 0..3,
                unbracketed: true
            }])
        );
        assert_eq!(
            parse_value("localhost:80"),
            Err(vec![ValueProblem::Ip {
                range: 0..9,
                unbracketed: false
            }])
        );
        assert_eq!(
            parse_value("[::1:80"),
            Err(vec![ValueProblem::Brackets(0..7)])
        );
        assert_eq!(
            parse_value("[1.2.3.4]:80"),
            Err(vec![ValueProblem::Ip {
                range: 1..8,
                unbracketed: false
            }])
        );
        assert_eq!(
            parse_value("1.2.3.4:"),
            Err(vec![ValueProblem::Port(8..8, NumberProblem::Empty)])
        );
    }

    #[test]
    fn overlap() {
        assert!(addresses_overlap("", "1.2.3.4"));
        assert!(addresses_overlap("0.0.0.0", "1.2.3.4"));
        assert!(!addresses_overlap("0.0.0.0", "::1"));
        assert!(addresses_overlap("::", "::1"));
        assert!(addresses_overlap("::1", "0:0::1"));
        assert!(!addresses_overlap("1.2.3.4", "1.2.3.5"));
    }
}
