//! The flags that let through what the mount and container policy refuses
//! ([`lowering::policy`]), shared by `plan` and `launch` so both read them the same way.

use lowering::policy::{Allow, Allowance};

/// `--allow NAME[,NAME…]` and the two older flags it subsumes.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct AllowArgs {
    /// Let through what the policy refuses, by name (comma-separated or repeated):
    /// host-mounts, engine-socket, tars-dirs, nested-mounts, privileged, cap-add, devices,
    /// pid, ipc, userns, uts, cgroupns, security-opt, sysctls, propagation, volumes-from,
    /// network-container, tmpfs. Template findings become warnings.
    #[arg(long, value_name = "NAMES", value_parser = parse_allow)]
    pub(crate) allow: Vec<Allow>,
    /// The same as `--allow host-mounts,engine-socket,tars-dirs,nested-mounts`.
    #[arg(long)]
    pub(crate) allow_host_mounts: bool,
    /// The same as `--allow privileged`.
    #[arg(long)]
    pub(crate) allow_privileged: bool,
}

impl AllowArgs {
    /// Everything the flags allow.
    pub(crate) fn allowed(&self) -> Allow {
        self.allow.iter().fold(
            Allow::from_flags(self.allow_host_mounts, self.allow_privileged),
            |all, a| all.union(*a),
        )
    }
}

fn parse_allow(text: &str) -> Result<Allow, String> {
    let allow = Allow::parse(text)?;
    if allow == Allow::NONE {
        let names: Vec<&str> = Allowance::ALL.iter().map(|a| a.name()).collect();
        return Err(format!("name what to allow: {}", names.join(", ")));
    }
    Ok(allow)
}
