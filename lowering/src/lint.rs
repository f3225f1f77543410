//! The template lint entry point: every check that can be run on one template, in one pass.
//!
//! `tarsdock lint` and the language server call [`check_template`]. A new family of checks is
//! hooked in here, so that everything a template can be told is told by one call.

use parser::{Diagnostic, Parse};

/// What a lint run knows beyond the template text.
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    /// Which codes are reported, at which severity (config file and flags).
    pub selection: crate::selection::Selection,
}

/// Every finding for one parsed template, sorted by position then code.
#[must_use]
pub fn check_template(parse: &Parse, options: &LintOptions) -> Vec<Diagnostic> {
    let mut diagnostics = parse.diagnostics.clone();
    diagnostics.extend(crate::plan::lint_checks(&parse.config));
    diagnostics.extend(crate::macros::check(parse));
    diagnostics.extend(crate::script::check(&parse.config));
    if options.selection.any_enabled(crate::portability::FAMILY) {
        diagnostics.extend(crate::portability::check(parse));
    }
    // Suppression comments and the selection apply to every finding above, so they run last.
    let mut diagnostics = crate::suppress::apply(parse, diagnostics, &options.selection);
    options.selection.apply(&mut diagnostics);
    diagnostics.sort_by_key(Diagnostic::sort_key);
    diagnostics
}

/// The findings of resolving a template's chain (cycles, missing parents, dropped members,
/// emptied keys), with the selection applied. They may point into any file of the chain or
/// into the index that names the parents.
#[must_use]
pub fn check_chain(
    resolution: &crate::resolve::Resolution,
    options: &LintOptions,
) -> Vec<Diagnostic> {
    let mut diagnostics = resolution.diagnostics.clone();
    options.selection.apply(&mut diagnostics);
    diagnostics
}
