#!/bin/sh
# Installs the editor the end-to-end language-server test drives (cli/tests/neovim.rs):
# Debian's neovim. Quick when it is there (no apt call). Under CI=true a failure to install is
# a failure; elsewhere the test then skips visibly.
set -eu

say() { echo "setup-editors: $*" >&2; }

if command -v nvim >/dev/null 2>&1; then
    say "nvim present: $(nvim --version | head -n 1)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    say "not root: cannot install neovim"
    [ "${CI:-}" = "true" ] && exit 1
    exit 0
fi
say "installing neovim"
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends neovim >/dev/null
say "nvim installed: $(nvim --version | head -n 1)"
