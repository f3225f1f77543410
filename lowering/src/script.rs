//! The values of a service's config that tarsnode writes into `tars_start.sh` as shell text
//! (`CommandStart::prepareScript`), and the check that warns when one holds shell syntax.
//!
//! This list is the one place both sides read: `runtime::script` builds the start script from
//! exactly these keys (everything else it writes — paths, names, node inputs — it quotes), and
//! [`check`] runs in `lint` (on templates) and in `deploy` (on the generated config).

use parser::{Config, Diagnostic};

use crate::codes::script as codes;
use crate::field::Line;

/// The domain the keys live in.
pub const SERVER_DOMAIN: &[u8] = b"/tars/application/server";

/// A key whose value goes into the start script unquoted, as upstream writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawScriptKey {
    pub key: &'static str,
    /// What the value is in the script, for messages.
    pub role: &'static str,
    /// Bytes that split the value into items before it reaches the script (not shell syntax).
    pub separators: &'static [u8],
}

/// Every key of [`SERVER_DOMAIN`] whose value upstream writes raw into `tars_start.sh`.
pub const RAW_SCRIPT_KEYS: &[RawScriptKey] = &[
    RawScriptKey {
        key: "env",
        role: "one `export` line per item",
        separators: b";|",
    },
    RawScriptKey {
        key: "jvmparams",
        role: "options of the java command line",
        separators: b"",
    },
    RawScriptKey {
        key: "classpath",
        role: "the java class path, as `-cp <classpath>/*`",
        separators: b"",
    },
    RawScriptKey {
        key: "mainclass",
        role: "the java main class, or `-jar …`",
        separators: b"",
    },
    RawScriptKey {
        key: "java",
        role: "the java interpreter",
        separators: b"",
    },
    RawScriptKey {
        key: "nodejs",
        role: "the node interpreter",
        separators: b"",
    },
    RawScriptKey {
        key: "php",
        role: "the php interpreter",
        separators: b"",
    },
    RawScriptKey {
        key: "entrance",
        role: "the php entry script",
        separators: b"",
    },
];

/// The first shell syntax in `value` that makes the script do more than one plain command:
/// its offset, length and what it does. `separators` are not syntax here.
#[must_use]
pub fn shell_syntax(value: &[u8], separators: &[u8]) -> Option<(usize, usize, &'static str)> {
    for (i, &b) in value.iter().enumerate() {
        if separators.contains(&b) {
            continue;
        }
        let found = match b {
            b'$' if value.get(i + 1) == Some(&b'(') => {
                Some((2, "runs a command and puts its output here"))
            }
            b'`' => Some((1, "runs a command and puts its output here")),
            b';' => Some((1, "ends the command: what follows runs as another")),
            b'|' => Some((1, "pipes into another command")),
            b'&' => Some((1, "runs in the background or chains another command")),
            b'\n' | b'\r' => Some((1, "a line break starts another command")),
            _ => None,
        };
        if let Some((len, what)) = found {
            return Some((i, len, what));
        }
    }
    None
}

/// One warning per raw script value in `config` that holds shell syntax.
#[must_use]
pub fn check(config: &Config) -> Vec<Diagnostic> {
    let Ok(Some(domain)) = config.domain(SERVER_DOMAIN) else {
        return Vec::new();
    };
    let fallback = domain.open_spans().first().copied().unwrap_or_default();
    let mut out = Vec::new();
    for raw in RAW_SCRIPT_KEYS {
        let Some(param) = domain.param(raw.key.as_bytes()) else {
            continue;
        };
        let Some((at, len, what)) = shell_syntax(param.value, raw.separators) else {
            continue;
        };
        let line = Line::new(config, param, fallback);
        let span = line
            .value
            .map_or(line.origin.line, |value| value.sub(at, at + len));
        out.push(codes::shell_syntax_in_script_value(
            span, raw.key, raw.role, what,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_syntax_is_found_and_separators_are_not() {
        assert_eq!(shell_syntax(b"-Xmx1g", b""), None);
        assert_eq!(shell_syntax(b"PATH=$PATH:/x", b";|"), None);
        assert_eq!(shell_syntax(b"A=1;B=2|C=3", b";|"), None);
        assert_eq!(shell_syntax(b"${basepath}x", b""), None);
        assert_eq!(shell_syntax(b"a; b", b"").map(|f| f.0), Some(1));
        assert_eq!(
            shell_syntax(b"a $(id)", b"").map(|f| (f.0, f.1)),
            Some((2, 2))
        );
        assert_eq!(shell_syntax(b"`id`", b"").map(|f| f.0), Some(0));
        assert_eq!(shell_syntax(b"A=1 && x", b";|").map(|f| f.0), Some(4));
        assert_eq!(shell_syntax(b"x|y", b"").map(|f| f.0), Some(1));
        assert_eq!(shell_syntax(b"x\ny", b"").map(|f| f.0), Some(1));
    }

    #[test]
    fn the_check_points_at_the_syntax() {
        let parse = parser::parse(
            b"<tars>\n<application>\n<server>\njvmparams=-Xmx1g; touch /x\nenv=A=1;B=2\n\
              </server>\n</application>\n</tars>\n"
                .to_vec(),
        );
        let found = check(&parse.config);
        assert_eq!(found.len(), 1, "{found:?}");
        let span = found[0].span;
        assert_eq!(&parse.source()[span.range()], b";");
    }
}
