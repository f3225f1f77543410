//! Property tests of the port and volume grammars and of the container checks on whole configs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use lowering::ir::{PortRange, Proto};
use lowering::ports::{KeyProblem, PortKey, ValueProblem, parse_key, parse_value};
use lowering::volumes::{PathProblem, Side, check_path, parse_path};
use proptest::prelude::*;

fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![Just(Proto::Tcp), Just(Proto::Udp), Just(Proto::Sctp)]
}

fn range(min: u16) -> impl Strategy<Value = PortRange> {
    (min..=u16::MAX).prop_flat_map(|start| {
        (Just(start), start..=u16::MAX).prop_map(|(start, end)| PortRange { start, end })
    })
}

fn ip() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
        any::<[u8; 16]>().prop_map(|o| std::net::Ipv6Addr::from(o).to_string()),
    ]
}

/// Text that looks like port lines and paths, with the characters the grammars care about.
fn noisy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[0-9a-fA-F:/\\[\\]\\-. tcpudsTCP中]{0,24}").unwrap()
}

fn in_bounds(range: &std::ops::Range<usize>, text: &str) -> bool {
    range.start <= range.end
        && range.end <= text.len()
        && text.is_char_boundary(range.start)
        && text.is_char_boundary(range.end)
}

proptest! {
    #[test]
    fn key_round_trips(ports in range(1), proto in proto()) {
        let key = PortKey { ports, proto };
        prop_assert_eq!(parse_key(&key.to_string()), Ok(key));
        // Without a protocol, a key is tcp.
        let bare = parse_key(&ports.to_string()).unwrap();
        prop_assert_eq!(bare.proto, Proto::Tcp);
    }

    #[test]
    fn value_round_trips(ip in ip(), port in range(0)) {
        // Port 0 is only valid alone (an ephemeral port).
        prop_assume!(port.start != 0 || port.is_single());
        let address = lowering::ports::HostAddress { ip, port };
        prop_assert_eq!(parse_value(&address.to_string()), Ok(address));
    }

    #[test]
    fn key_problems_point_into_the_text(text in noisy()) {
        if let Err(problems) = parse_key(&text) {
            prop_assert!(!problems.is_empty());
            for problem in problems {
                let r = match problem {
                    KeyProblem::Port(r, _) | KeyProblem::Proto(r) => r,
                };
                prop_assert!(in_bounds(&r, &text), "{r:?} in {text:?}");
            }
        }
    }

    #[test]
    fn value_problems_point_into_the_text(text in noisy()) {
        match parse_value(&text) {
            Ok(address) => {
                prop_assert!(text.contains(':'));
                // A parsed value prints back to a value that parses to the same thing.
                prop_assert_eq!(parse_value(&address.to_string()), Ok(address));
            }
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for problem in problems {
                    match problem {
                        ValueProblem::NoColon => prop_assert!(
                            !text.contains(':') || text.starts_with('['),
                            "NoColon for {text:?}"
                        ),
                        ValueProblem::Brackets(r)
                        | ValueProblem::Ip { range: r, .. }
                        | ValueProblem::Port(r, _) => {
                            prop_assert!(in_bounds(&r, &text), "{r:?} in {text:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn paths_split_into_their_segments(text in noisy()) {
        let syntax = parse_path(&text);
        let rebuilt: Vec<&str> = syntax.segments.iter().map(|r| &text[r.clone()]).collect();
        let expected = text.strip_prefix('/').unwrap_or(&text);
        prop_assert_eq!(rebuilt.join("/"), expected);
        for problem in check_path(&text, Side::Container) {
            if let PathProblem::ParentSegment(r) | PathProblem::Colon(r) = problem {
                prop_assert!(in_bounds(&r, &text));
            }
        }
    }

    #[test]
    fn clean_absolute_paths_have_no_problems(
        segments in proptest::collection::vec("[a-zA-Z0-9_.-]{1,8}", 1..6)
    ) {
        prop_assume!(segments.iter().all(|s| s != ".." && s != "."));
        let path = format!("/{}", segments.join("/"));
        prop_assert_eq!(check_path(&path, Side::Host), vec![]);
        prop_assert_eq!(check_path(&path, Side::Container), vec![]);
        let climbing = format!("{path}/../x");
        prop_assert!(check_path(&climbing, Side::Host)
            .iter()
            .any(|p| matches!(p, PathProblem::ParentSegment(_))));
    }

    /// Any volume and port lines: the checks never panic, every span lies in the source, and
    /// findings are sorted.
    #[test]
    fn container_checks_on_any_lines(
        volumes in proptest::collection::vec((noisy(), noisy()), 0..6),
        ports in proptest::collection::vec((noisy(), noisy()), 0..6),
    ) {
        let mut text = String::from("<tars>\n<application>\n<container>\n<volumes>\n");
        for (host, target) in &volumes {
            text.push_str(&format!("{host}={target}\n"));
        }
        text.push_str("</volumes>\n<ports>\n");
        for (key, value) in &ports {
            text.push_str(&format!("{key}={value}\n"));
        }
        text.push_str("</ports>\n</container>\n</application>\n</tars>\n");
        let parse = parser::parse(text.clone().into_bytes());
        let diagnostics =
            lowering::lower::check_container(&parse.config, lowering::lower::Policy::default());
        let length = u32::try_from(text.len()).unwrap();
        for d in &diagnostics {
            prop_assert!(d.span.start <= d.span.end && d.span.end <= length);
            for related in &d.related {
                prop_assert!(related.span.end <= length);
            }
        }
        let keys: Vec<_> = diagnostics.iter().map(parser::Diagnostic::sort_key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        prop_assert_eq!(keys, sorted);
    }
}
