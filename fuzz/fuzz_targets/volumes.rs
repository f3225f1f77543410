//! Fuzz target `volumes`: the mount path grammar, the path arithmetic (upstream's
//! `simplifyDirectory`, the daemon's clean) and the container checks on a volume line never
//! panic; segments rebuild the path; problems point inside it; clean is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lowering::paths::{clean, simplify_directory};
use lowering::volumes::{PathProblem, Side, check_path, parse_path};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (host, target) = text.split_once('=').unwrap_or((text, ""));
    for (path, side) in [(host, Side::Host), (target, Side::Container)] {
        let syntax = parse_path(path);
        let rebuilt: Vec<&str> = syntax.segments.iter().map(|r| &path[r.clone()]).collect();
        assert_eq!(rebuilt.join("/"), path.strip_prefix('/').unwrap_or(path));
        for problem in check_path(path, side) {
            if let PathProblem::ParentSegment(r) | PathProblem::Colon(r) = problem {
                assert!(r.end <= path.len() && path.is_char_boundary(r.start));
            }
        }
        let cleaned = clean(path);
        assert_eq!(clean(&cleaned), cleaned, "clean is idempotent");
        let _ = simplify_directory(path);
    }
    let template = format!(
        "<tars>\n<application>\n<container>\n<volumes>\n{text}\n</volumes>\n</container>\n</application>\n</tars>\n"
    );
    let parse = parser::parse(template.clone().into_bytes());
    let length = u32::try_from(template.len()).unwrap_or(u32::MAX);
    for d in lowering::lower::check_container(&parse.config, lowering::lower::Policy::default()) {
        assert!(d.span.start <= d.span.end && d.span.end <= length, "{d:?}");
    }
});
