#!/bin/sh
# Edit-to-diagnostics latency of the language server in a real Neovim (BENCHMARKS.md "Lint").
#
#   cli/benches/neovim/run.sh TEMPLATE [ROUNDS] [DEBOUNCE_MS]
#
# Uses target/release/tarsdock and the README's Neovim 0.7 snippet; DEBOUNCE_MS, when given,
# replaces the snippet's `flags.debounce_text_changes` (`default`: no flag, Neovim's 150 ms).
# Edits are 100 ms apart (TARSDOCK_BENCH_PAUSE_MS), as typing is.
# Prints the median and the spread of edit → publish received and edit → diagnostics shown.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
template="$1"
rounds="${2:-40}"
debounce="${3:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$template" "$work/bench.conf"
# The README's snippet, as the end-to-end test runs it.
awk '/<!-- snippet: neovim-0.7 /{found=1} found && /^```lua$/{inside=1; next} inside && /^```$/{exit} inside{print}' \
    "$root/README.md" > "$work/init.lua"
grep -q "flags = { debounce_text_changes = " "$work/init.lua"
if [ "$debounce" = default ]; then
    sed -i "/flags = { debounce_text_changes = /d" "$work/init.lua"
elif [ -n "$debounce" ]; then
    sed -i "s/flags = { debounce_text_changes = [0-9]* }/flags = { debounce_text_changes = $debounce }/" "$work/init.lua"
fi
cd "$work"
PATH="$root/target/release:$PATH" TARSDOCK_BENCH_OUT="$work/out.json" TARSDOCK_BENCH_ROUNDS="$rounds" \
    HOME="$work" XDG_CONFIG_HOME="$work/c" XDG_DATA_HOME="$work/d" XDG_STATE_HOME="$work/s" \
    nvim --headless -i NONE -u "$work/init.lua" -c "luafile $here/edit_latency.lua" "$work/bench.conf" </dev/null >/dev/null 2>&1
python3 - "$work/out.json" <<'PY'
import json, statistics, sys
out = json.load(open(sys.argv[1]))
if "error" in out:
    sys.exit("error: " + out["error"])
print(f"initial: {out['initial_count']} diagnostics in {out['initial_ms']:.0f} ms")
for key in ("to_received_ms", "to_shown_ms", "nvim_cpu_ms", "handler_cpu_ms"):
    values = sorted(r[key] for r in out["rounds"])
    q = statistics.quantiles(values, n=10)
    print(f"{key}: median {statistics.median(values):.1f} ms, p10 {q[0]:.1f}, p90 {q[-1]:.1f}, n={len(values)}")
print(f"keystrokes in a value that change no finding: {out['value_keystroke_publishes']} notifications for {out['value_keystrokes']}")
for key in ("payload_now", "payload_help_in_message"):
    p = out[key]
    print(f"{key}: {p['bytes']} bytes, decode + handle {p['decode_and_handle_cpu_ms']:.1f} ms CPU")
PY
