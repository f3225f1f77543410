//! Path arithmetic: upstream's `simplifyDirectory` and `replace` (for the default mounts), and a
//! lexical clean (Go's `path.Clean`) for comparing mount paths the way the Docker daemon does.

/// Upstream TarsCpp `TC_File::simplifyDirectory` on a Linux build, reproduced step by step.
///
/// Collapses `//`, removes `/./`, drops leading `/../`, resolves `a/../` (only when a `/../`
/// with a slash on both sides occurs: a trailing `/..` is kept, as upstream keeps it), strips a
/// trailing `/.` and a trailing `/`, and turns `/..` into `/`.
#[must_use]
pub fn simplify_directory(path: &str) -> String {
    let mut result = path.replace('\\', "/");

    while let Some(pos) = result.find("//") {
        result.remove(pos);
    }
    while let Some(pos) = result.find("/./") {
        result.replace_range(pos..pos + 2, "");
    }
    while result.starts_with("/../") {
        result.replace_range(0..3, "");
    }
    if result.contains("/../") {
        let absolute = result.starts_with('/');
        let mut stack: Vec<&str> = Vec::new();
        // Upstream splits with `sepstr`, which drops empty items.
        for item in result.split('/').filter(|s| !s.is_empty()) {
            match stack.last() {
                Some(&top) if item == ".." && top != ".." && top != "." => {
                    stack.pop();
                }
                _ => stack.push(item),
            }
        }
        let mut rebuilt = String::with_capacity(result.len());
        if absolute {
            rebuilt.push('/');
        }
        for item in stack {
            rebuilt.push_str(item);
            rebuilt.push('/');
        }
        result = rebuilt;
    }
    if result == "/." {
        return "/".to_owned();
    }
    if result.ends_with("/.") {
        result.truncate(result.len() - 2);
    }
    if result == "/" {
        return result;
    }
    if result.ends_with('/') {
        result.pop();
    }
    if result == "/.." {
        return "/".to_owned();
    }
    result
}

/// Upstream `TC_Common::replace(s, from, to)`: every occurrence, left to right, without
/// rescanning replaced text. An empty `from` changes nothing.
#[must_use]
pub fn replace_all(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return text.to_owned();
    }
    text.replace(from, to)
}

/// A lexical clean in the manner of Go's `path.Clean`, which the Docker daemon applies to mount
/// paths before comparing them: `//` and `.` removed, `..` resolved (never above `/`), no
/// trailing slash except for `/` itself. A relative path stays relative; empty gives `.`.
#[must_use]
pub fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Whether `path` equals `dir` or lies below it (both already cleaned, absolute).
#[must_use]
pub fn is_within(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return true;
    }
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplify_matches_upstream_examples() {
        assert_eq!(
            simplify_directory("/usr/local/app/tars/app_log//../"),
            "/usr/local/app/tars"
        );
        assert_eq!(
            simplify_directory("/usr/local/app/tars//tarsnode/data"),
            "/usr/local/app/tars/tarsnode/data"
        );
        assert_eq!(
            simplify_directory("/data/tars//tarsnode-data/Test.BroadcastServer"),
            "/data/tars/tarsnode-data/Test.BroadcastServer"
        );
        assert_eq!(
            simplify_directory("/data/tars/app_log/"),
            "/data/tars/app_log"
        );
        assert_eq!(simplify_directory("/"), "/");
        assert_eq!(simplify_directory("/."), "/");
        assert_eq!(simplify_directory("/.."), "/");
        assert_eq!(simplify_directory("/a/./b/."), "/a/b");
        assert_eq!(simplify_directory("/../../a"), "/a");
    }

    #[test]
    fn simplify_keeps_a_trailing_dot_dot_like_upstream() {
        // No `/../` with slashes on both sides: upstream leaves the `..` in place.
        assert_eq!(simplify_directory("/a/b/.."), "/a/b/..");
        assert_eq!(simplify_directory("/a/b/../c"), "/a/c");
    }

    #[test]
    fn clean_is_go_path_clean() {
        assert_eq!(clean("/a//b/./c/"), "/a/b/c");
        assert_eq!(clean("/a/b/../../.."), "/");
        assert_eq!(clean("/../etc"), "/etc");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("a/../.."), "..");
        assert_eq!(clean("/"), "/");
    }

    #[test]
    fn within() {
        assert!(is_within("/etc", "/etc"));
        assert!(is_within("/etc/ssl", "/etc"));
        assert!(!is_within("/etcetera", "/etc"));
        assert!(is_within("/anything", "/"));
    }

    #[test]
    fn replace_every_occurrence() {
        assert_eq!(replace_all("/a/x/a/", "/a/", "/b/"), "/b/x/b/");
        assert_eq!(replace_all("abc", "", "z"), "abc");
    }
}
