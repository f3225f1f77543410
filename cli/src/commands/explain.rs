//! `tarsdock explain CODE`: the documentation of one diagnostic code.

use std::io::Write as _;

use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A code such as `TARS-S001`, or a rule name such as `unterminated-tag`.
    pub(crate) code: String,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let Some(info) = super::catalogue::find(&args.code) else {
        anyhow::bail!(
            "unknown code `{}`; `tarsdock rules` lists every code",
            args.code
        );
    };
    let opt_in = lowering::selection::OPT_IN_FAMILIES
        .iter()
        .find(|family| info.code.as_str().starts_with(*family));
    let enabled = match opt_in {
        Some(family) => format!(
            " Off by default: enable it with `extend-select = [\"{family}\"]` in tarsdock.toml \
             or `--extend-select {family}`."
        ),
        None => String::new(),
    };
    let text = format!(
        "# {} ({})\n\nDefault severity: {}.{enabled} {}.\n\n{}\n",
        info.code,
        info.name,
        info.severity,
        capitalise(info.summary),
        info.explanation
    );
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(Status::Success)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}
