//! Fuzz target `ports`: the `<ports>` key and value grammars and the container checks on a
//! port line never panic; every problem points inside its text; whatever parses prints back to
//! text that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lowering::ports::{KeyProblem, ValueProblem, parse_key, parse_value};

fn in_bounds(range: &std::ops::Range<usize>, text: &str) -> bool {
    range.start <= range.end
        && range.end <= text.len()
        && text.is_char_boundary(range.start)
        && text.is_char_boundary(range.end)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    match parse_key(key) {
        Ok(parsed) => assert_eq!(parse_key(&parsed.to_string()), Ok(parsed)),
        Err(problems) => {
            assert!(!problems.is_empty());
            for problem in problems {
                let (KeyProblem::Port(r, _) | KeyProblem::Proto(r)) = problem;
                assert!(in_bounds(&r, key), "{r:?} in {key:?}");
            }
        }
    }
    match parse_value(value) {
        Ok(parsed) => assert_eq!(parse_value(&parsed.to_string()), Ok(parsed)),
        Err(problems) => {
            assert!(!problems.is_empty());
            for problem in problems {
                if let ValueProblem::Brackets(r)
                | ValueProblem::Ip { range: r, .. }
                | ValueProblem::Port(r, _) = problem
                {
                    assert!(in_bounds(&r, value), "{r:?} in {value:?}");
                }
            }
        }
    }
    // The same line inside a template, through the whole check.
    let template = format!(
        "<tars>\n<application>\n<container>\n<ports>\n{text}\n</ports>\n</container>\n</application>\n</tars>\n"
    );
    let parse = parser::parse(template.clone().into_bytes());
    let length = u32::try_from(template.len()).unwrap_or(u32::MAX);
    for d in lowering::lower::check_container(&parse.config, lowering::lower::Policy::default()) {
        assert!(d.span.start <= d.span.end && d.span.end <= length, "{d:?}");
    }
});
