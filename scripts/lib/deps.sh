# shellcheck shell=bash
# Installing what the test run needs, on a machine that may be brand new.
# Every function is idempotent and silent when there is nothing to do, so a
# developer's second run costs a few dpkg look-ups and one hash comparison.

# Run a command as root: directly when we are root (CI), via sudo otherwise.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (install it by hand or run as root)"
  fi
}

_deb_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# ensure_debs PKG...: apt-get install whichever of PKG are missing.
# `apt-get update` only runs when something is missing (it's the slow part and
# needs the network); the install is noninteractive and reads no stdin (CI
# has none), and waits for a held dpkg lock instead of failing at once.
ensure_debs() {
  local missing=() p
  for p in "$@"; do
    _deb_installed "$p" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing Debian packages: ${missing[*]} (apt-get; first time only)"
  local t=$SECONDS
  local apt_opts=(-qq -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
  # Output goes to a log that is shown only if apt fails.
  local apt_log
  apt_log=$(mktemp "${TMPDIR:-/tmp}/valfri-apt.XXXXXX")
  if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y \
      --no-install-recommends "${missing[@]}"; } </dev/null >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    rm -f "$apt_log"
    die "apt-get failed to install: ${missing[*]}"
  fi
  rm -f "$apt_log"
  log "installed ${missing[*]} in $((SECONDS - t))s"
}

# ensure_node_modules DIR: `npm ci` in DIR unless node_modules already matches
# package-lock.json (we stamp the lockfile's hash after a good install).
# Without a lockfile it runs `npm install` once to create it; commit it.
ensure_node_modules() {
  local dir=$1 stamp want
  command -v npm >/dev/null 2>&1 || die "npm not found: the browser tests need node 20 + npm"
  stamp="$dir/node_modules/.valfri-lock-sha256"
  # playwright-core never downloads browsers, but make sure nothing tries.
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  local npm_opts=(--no-audit --no-fund --loglevel=error)
  if [[ ! -f "$dir/package-lock.json" ]]; then
    warn "$dir/package-lock.json is missing: creating it with npm install; commit it"
    (cd "$dir" && npm install "${npm_opts[@]}" </dev/null)
  else
    want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
      return 0
    fi
    log "npm ci in ${dir#"$REPO_ROOT"/}"
    local t=$SECONDS
    (cd "$dir" && npm ci "${npm_opts[@]}" </dev/null)
    log "npm ci took $((SECONDS - t))s"
  fi
  sha256sum "$dir/package-lock.json" | cut -d' ' -f1 >"$stamp"
}

# The Rust toolchain can't be installed from here (only crates.io is reachable,
# not rustup's servers), so just say clearly what is missing.
require_rust() {
  command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust via rustup)"
  if [[ "${1:-}" == full ]]; then
    cargo fmt --version >/dev/null 2>&1 || die "rustfmt missing: rustup component add rustfmt"
    cargo clippy --version >/dev/null 2>&1 || die "clippy missing: rustup component add clippy"
  fi
}
