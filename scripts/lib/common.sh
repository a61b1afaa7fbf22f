# shellcheck shell=bash
# Variables here are read by scripts/test, which shellcheck can't see.
# shellcheck disable=SC2034
# Shared helpers for scripts/test: logging, stage headers, result counting.
# Sourced, never executed. Expects `set -euo pipefail` from the caller.

# Colour only when a human is watching; CI logs stay plain text.
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
  _c_bold=$'\e[1m'; _c_red=$'\e[31m'; _c_green=$'\e[32m'; _c_dim=$'\e[2m'; _c_off=$'\e[0m'
else
  _c_bold=''; _c_red=''; _c_green=''; _c_dim=''; _c_off=''
fi

log()  { printf '%s\n' "${_c_dim}[test]${_c_off} $*"; }
warn() { printf '%s\n' "${_c_red}[test] warning:${_c_off} $*" >&2; }
die()  { printf '%s\n' "${_c_red}[test] error:${_c_off} $*" >&2; exit 1; }

# Seconds since the script started, for per-stage timings in the log.
_t0=$SECONDS

# Name of the stage currently running; the EXIT trap reports it on failure.
CURRENT_STAGE=''

stage() {
  CURRENT_STAGE="$*"
  printf '\n%s\n' "${_c_bold}==> [$((SECONDS - _t0))s] $*${_c_off}"
}

# Totals over all stages, printed as the closing summary line.
TOTAL_PASSED=0
TOTAL_FAILED=0

# Strip ANSI colour codes so counts parse the same with or without a TTY.
_strip_ansi() { sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1"; }

# Add up every `test result: ok. X passed; Y failed; ...` line in a cargo log
# (one per test binary and one per doc-test run).
count_cargo_results() {
  local log=$1 p f
  read -r p f < <(_strip_ansi "$log" | awk '
    /^test result: / {
      for (i = 1; i <= NF; i++) {
        if ($(i+1) ~ /^passed;?$/) p += $i
        if ($(i+1) ~ /^failed;?$/) f += $i
      }
    }
    END { print p+0, f+0 }')
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
  log "counted from cargo: $p passed, $f failed"
  # Remember whether this stage contributed a failure, so a red stage that
  # failed before running tests (a compile error) can still be counted once.
  STAGE_COUNTED_FAILURES=$f
}

# Add up node's test runner totals. TAP prints `# pass X` / `# fail Y`, the
# spec reporter prints `ℹ pass X` / `ℹ fail Y`; accept both. Tests cancelled
# because a before() hook failed (e.g. the server didn't start) count as failed.
count_node_results() {
  local log=$1 p f
  read -r p f < <(_strip_ansi "$log" | awk '
    /^(# |ℹ )pass [0-9]+$/ { p += $3 }
    /^(# |ℹ )(fail|cancelled) [0-9]+$/ { f += $3 }
    END { print p+0, f+0 }')
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
  log "counted from node: $p passed, $f failed"
  STAGE_COUNTED_FAILURES=$f
}
STAGE_COUNTED_FAILURES=0

print_summary() {
  printf '\n%s passed, %s failed\n' "$TOTAL_PASSED" "$TOTAL_FAILED"
}
