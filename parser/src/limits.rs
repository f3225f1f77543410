//! The bounds tarsdock keeps on what it reads and writes, in one place.
//!
//! Upstream TC_Config has none: it reads any size, any line length and any depth, and its
//! `tostr` grows with the square of the depth (two spaces of indent per level), so a 90 KB
//! template can serialise to 200 MB. tarsdock runs beside tarsnode as root and serves editors
//! on every keystroke, so every cost is bounded by design and every refusal is a coded
//! diagnostic (or a typed error), never a crash or a kill. README "Limits" documents them.

/// Largest template [`crate::parse`] reads (TARS-S007 beyond it). Real templates are a few
/// KB (the largest upstream one is 6 KB; the 1 MB benchmark template is an extreme). The
/// lossless line table and the model cost up to ~160 bytes per line, so this bound is what
/// keeps the worst input (millions of two-byte lines) within the 512 MiB every command is
/// held to.
pub const MAX_INPUT: usize = 4 * 1024 * 1024;

/// Longest line, in bytes (TARS-S009 beyond it). Upstream's longest real line is 1,427 bytes.
pub const MAX_LINE: usize = 1024 * 1024;

/// Deepest nesting of domains (TARS-S008 beyond it). Real templates nest five or six levels;
/// `tostr` of a template nested this deep is already megabytes of indent.
pub const MAX_DEPTH: u32 = 128;

/// Most findings a parse records; the rest are counted ([`crate::Parse::omitted`]). Renderers
/// apply the same bound per file to all findings.
pub const MAX_FINDINGS: usize = 10_000;

/// Largest text `tostr`, `join` and `fmt` write ([`crate::TostrError::TooLarge`]).
pub const MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// A text tarsdock would write is larger than [`MAX_OUTPUT`]: refused, nothing written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// The bound that was reached, in bytes.
    pub limit: usize,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tarsdock: the serialised template would be larger than {} MiB (upstream writes two \
             spaces of indent per nesting level on every line)",
            self.limit / (1024 * 1024)
        )
    }
}

impl std::error::Error for TooLarge {}
