#!/usr/bin/env bash
# Builds stackctl in release mode and installs it with shell completions and man pages.
# Re-running it upgrades in place.
#
#   ./install.sh                 # into ~/.local/bin
#   ./install.sh --prefix /usr/local
set -euo pipefail

PREFIX="$HOME/.local"
while (($#)); do
  case "$1" in
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")"
command -v cargo >/dev/null || { echo "install.sh: cargo not found; install Rust from your distribution or rustup" >&2; exit 1; }

echo "building stackctl (release)..."
# Builds both of the package's binaries: stackctl and stackctl-man, the man page
# generator (not installed; it only writes the pages below).
cargo build --release --locked -q -p stackctl
BIN_DIR="$PREFIX/bin"
mkdir -p "$BIN_DIR"
# Copy to a temporary name then rename, so a running stackctl is never half-written.
install -m 0755 target/release/stackctl "$BIN_DIR/.stackctl.new"
mv -f "$BIN_DIR/.stackctl.new" "$BIN_DIR/stackctl"

BASH_DIR="$PREFIX/share/bash-completion/completions"
ZSH_DIR="$PREFIX/share/zsh/site-functions"
FISH_DIR="$PREFIX/share/fish/vendor_completions.d"
mkdir -p "$BASH_DIR" "$ZSH_DIR" "$FISH_DIR"
"$BIN_DIR/stackctl" completion bash >"$BASH_DIR/stackctl"
"$BIN_DIR/stackctl" completion zsh >"$ZSH_DIR/_stackctl"
"$BIN_DIR/stackctl" completion fish >"$FISH_DIR/stackctl.fish"

MAN_DIR="$PREFIX/share/man/man1"
mkdir -p "$MAN_DIR"
PAGES_TMP=$(mktemp -d)
trap 'rm -rf "$PAGES_TMP"' EXIT
target/release/stackctl-man "$PAGES_TMP"
install -m 0644 "$PAGES_TMP"/*.1 "$MAN_DIR/"

echo "installed $("$BIN_DIR/stackctl" --version) to $BIN_DIR/stackctl"
echo "completions: $BASH_DIR/stackctl, $ZSH_DIR/_stackctl, $FISH_DIR/stackctl.fish"
echo "man pages: $MAN_DIR/stackctl.1 and stackctl-<command>.1 (man stackctl, man stackctl-install)"
case ":$PATH:" in
  *":$BIN_DIR:"*) ;;
  *) echo "note: $BIN_DIR is not on your PATH; add it, e.g. export PATH=\"$BIN_DIR:\$PATH\"" ;;
esac
