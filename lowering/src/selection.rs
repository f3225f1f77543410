//! Which codes a lint run reports, and at which severity: `select`, `extend-select`, `ignore`
//! and per-code severity overrides, resolved once against the catalogue.
//!
//! A selector is a full code (`TARS-S103`, any case), a code prefix (`TARS-S1`, `TARS-G`), a
//! rule name (`hash-in-value`) or `ALL`. When several selectors match a code, the most specific
//! one decides (rule names and full codes beat longer prefixes, which beat shorter ones and
//! `ALL`); on a tie `ignore` wins. This is ruff's resolution, so `ignore = ["TARS-S1"]` with
//! `select = ["TARS-S103"]` keeps `TARS-S103` only.
//!
//! Codes in an opt-in family (the XML portability family `TARS-G`) are off unless a selector
//! names them. Syntax errors that make upstream refuse the template are always reported as
//! errors: naming one in `ignore` or in a severity override is a [`SelectionError`].

use parser::{CodeInfo, Diagnostic, DiagnosticCode, Severity};

/// Code prefixes of families that are off by default.
pub const OPT_IN_FAMILIES: &[&str] = &["TARS-G"];

/// The resolved selection: for every known code, whether it is reported and at which severity.
#[derive(Clone, Debug)]
pub struct Selection {
    /// Sorted by code, for binary search.
    resolved: Vec<(DiagnosticCode, Option<Severity>)>,
}

/// What the user asked for, before resolution (config file and flags combined).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectionRequest {
    /// Replaces the default set when given.
    pub select: Option<Vec<String>>,
    /// Added to `select` (or to the default set).
    pub extend_select: Vec<String>,
    pub ignore: Vec<String>,
    /// `(selector, severity)` pairs; the most specific match wins, then the later one.
    pub severity: Vec<(String, Severity)>,
}

/// A selector that names no code, or names a code that cannot be turned off or down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectionError {
    Unknown {
        selector: String,
    },
    NotConfigurable {
        selector: String,
        code: DiagnosticCode,
    },
}

impl std::fmt::Display for SelectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown { selector } => write!(
                f,
                "`{selector}` is not a code, code prefix or rule name (`tarsdock rules` lists them)"
            ),
            Self::NotConfigurable { selector, code } => write!(
                f,
                "`{selector}` names {code}, a syntax error that makes upstream refuse the \
                 template; it is always reported as an error"
            ),
        }
    }
}

impl std::error::Error for SelectionError {}

impl Default for Selection {
    fn default() -> Self {
        Self::resolve(&SelectionRequest::default()).unwrap_or_else(|_| Self {
            resolved: Vec::new(),
        })
    }
}

impl Selection {
    /// Resolves `request` against every known code.
    ///
    /// # Errors
    /// A selector that matches no code, or that names an unconfigurable code exactly in
    /// `ignore` or `severity`.
    pub fn resolve(request: &SelectionRequest) -> Result<Self, SelectionError> {
        let catalogue = catalogue();
        let all_selectors = request
            .select
            .iter()
            .flatten()
            .chain(&request.extend_select)
            .chain(&request.ignore)
            .chain(request.severity.iter().map(|(s, _)| s));
        for selector in all_selectors {
            if !catalogue
                .iter()
                .any(|info| specificity(selector, info).is_some())
            {
                return Err(SelectionError::Unknown {
                    selector: selector.clone(),
                });
            }
        }
        for selector in request
            .ignore
            .iter()
            .chain(request.severity.iter().map(|(s, _)| s))
        {
            if let Some(info) = catalogue
                .iter()
                .find(|info| is_exact(selector, info) && !is_configurable(info.code))
            {
                return Err(SelectionError::NotConfigurable {
                    selector: selector.clone(),
                    code: info.code,
                });
            }
        }
        let mut resolved: Vec<(DiagnosticCode, Option<Severity>)> = catalogue
            .iter()
            .map(|info| (info.code, resolve_one(request, info)))
            .collect();
        resolved.sort_by_key(|(code, _)| *code);
        resolved.dedup_by_key(|(code, _)| *code);
        Ok(Self { resolved })
    }

    /// Whether `code` is reported. Codes missing from the catalogue are reported.
    #[must_use]
    pub fn is_enabled(&self, code: DiagnosticCode) -> bool {
        self.lookup(code).is_none_or(|s| s.is_some())
    }

    /// Whether any code starting with `prefix` is reported.
    #[must_use]
    pub fn any_enabled(&self, prefix: &str) -> bool {
        self.resolved
            .iter()
            .any(|(code, s)| s.is_some() && code.as_str().starts_with(prefix))
    }

    /// Drops disabled findings and applies severity overrides, in place.
    pub fn apply(&self, diagnostics: &mut Vec<Diagnostic>) {
        diagnostics.retain_mut(|d| match self.lookup(d.code) {
            None => true,
            Some(None) => false,
            Some(Some(severity)) => {
                d.severity = severity;
                true
            }
        });
    }

    fn lookup(&self, code: DiagnosticCode) -> Option<Option<Severity>> {
        self.resolved
            .binary_search_by(|(c, _)| c.as_str().cmp(code.as_str()))
            .ok()
            .and_then(|i| self.resolved.get(i))
            .map(|(_, s)| *s)
    }
}

/// Every known code: the parser's, then lowering's.
#[must_use]
pub fn catalogue() -> Vec<&'static CodeInfo> {
    parser::errors::CATALOGUE
        .iter()
        .chain(crate::codes::all())
        .collect()
}

/// Whether `code` may be disabled, downgraded or suppressed: every code but the parser's
/// errors (upstream refuses such a template, so hiding them would hide a broken template).
#[must_use]
pub fn is_configurable(code: DiagnosticCode) -> bool {
    !parser::errors::CATALOGUE
        .iter()
        .any(|info| info.code == code && info.severity == Severity::Error)
}

/// The code a suppression or selector names exactly: a full code (any case) or a rule name.
#[must_use]
pub fn find_exact(selector: &str) -> Option<&'static CodeInfo> {
    catalogue()
        .into_iter()
        .find(|info| is_exact(selector, info))
}

fn is_exact(selector: &str, info: &CodeInfo) -> bool {
    selector == info.name || selector.eq_ignore_ascii_case(info.code.as_str())
}

/// How specifically `selector` names `info`: `None` if it does not match; `ALL` is 0, a code
/// prefix its length, a full code or rule name above every prefix.
fn specificity(selector: &str, info: &CodeInfo) -> Option<usize> {
    if selector == "ALL" {
        return Some(0);
    }
    if is_exact(selector, info) {
        return Some(usize::MAX);
    }
    let code = info.code.as_str();
    (!selector.is_empty()
        && code.len() > selector.len()
        && code
            .get(..selector.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(selector)))
    .then_some(selector.len())
}

fn best<'a>(selectors: impl Iterator<Item = &'a String>, info: &CodeInfo) -> Option<usize> {
    selectors.filter_map(|s| specificity(s, info)).max()
}

fn resolve_one(request: &SelectionRequest, info: &CodeInfo) -> Option<Severity> {
    if !is_configurable(info.code) {
        return Some(info.severity);
    }
    let opt_in = OPT_IN_FAMILIES
        .iter()
        .any(|family| info.code.as_str().starts_with(family));
    let selected = match &request.select {
        Some(select) => best(select.iter(), info),
        // The default set behaves like `ALL` minus the opt-in families.
        None => (!opt_in).then_some(0),
    };
    let selected = selected.max(best(request.extend_select.iter(), info));
    let ignored = best(request.ignore.iter(), info);
    let enabled = match (selected, ignored) {
        (Some(s), Some(i)) => s > i,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !enabled {
        return None;
    }
    let severity = request
        .severity
        .iter()
        .filter_map(|(selector, severity)| specificity(selector, info).map(|s| (s, *severity)))
        // `max_by_key` keeps the last of equal keys: the later override wins a tie.
        .max_by_key(|(s, _)| *s)
        .map_or(info.severity, |(_, severity)| severity);
    Some(severity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(select: Option<&[&str]>, ignore: &[&str]) -> SelectionRequest {
        SelectionRequest {
            select: select.map(|s| s.iter().map(|x| (*x).to_owned()).collect()),
            ignore: ignore.iter().map(|x| (*x).to_owned()).collect(),
            ..SelectionRequest::default()
        }
    }

    const S103: DiagnosticCode = DiagnosticCode("TARS-S103");
    const S104: DiagnosticCode = DiagnosticCode("TARS-S104");

    #[test]
    fn default_enables_all_but_opt_in() {
        let selection = Selection::default();
        assert!(selection.is_enabled(S103));
        assert!(!selection.any_enabled("TARS-G"));
        assert!(selection.any_enabled("TARS-L"));
    }

    #[test]
    fn most_specific_selector_wins() {
        let selection = Selection::resolve(&req(Some(&["TARS-S103"]), &["TARS-S1"])).unwrap();
        assert!(selection.is_enabled(S103));
        assert!(!selection.is_enabled(S104));
        let selection = Selection::resolve(&req(None, &["hash-in-value"])).unwrap();
        assert!(!selection.is_enabled(S103));
        assert!(selection.is_enabled(S104));
    }

    #[test]
    fn tie_goes_to_ignore() {
        let selection = Selection::resolve(&req(Some(&["TARS-S1"]), &["TARS-S1"])).unwrap();
        assert!(!selection.is_enabled(S103));
    }

    #[test]
    fn unknown_and_unconfigurable_selectors_are_errors() {
        assert_eq!(
            Selection::resolve(&req(None, &["TARS-Q"])).unwrap_err(),
            SelectionError::Unknown {
                selector: "TARS-Q".to_owned()
            }
        );
        assert!(matches!(
            Selection::resolve(&req(None, &["unterminated-tag"])),
            Err(SelectionError::NotConfigurable { .. })
        ));
        // A prefix that covers refusal errors leaves them on.
        let selection = Selection::resolve(&req(None, &["TARS-S"])).unwrap();
        assert!(selection.is_enabled(DiagnosticCode("TARS-S001")));
        assert!(!selection.is_enabled(S103));
    }

    #[test]
    fn severity_overrides() {
        let request = SelectionRequest {
            severity: vec![
                ("TARS-S1".to_owned(), Severity::Info),
                ("hash-in-value".to_owned(), Severity::Error),
            ],
            ..SelectionRequest::default()
        };
        let selection = Selection::resolve(&request).unwrap();
        let mut diagnostics = vec![
            Diagnostic::new(S103, Severity::Warning, "a"),
            Diagnostic::new(S104, Severity::Warning, "b"),
        ];
        selection.apply(&mut diagnostics);
        assert_eq!(diagnostics[0].severity, Severity::Error);
        assert_eq!(diagnostics[1].severity, Severity::Info);
    }
}
