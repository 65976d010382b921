# Interop test prerequisites (sourced after common.sh): Debian's Chromium, Node.js
# with npm, and the npm packages pinned by tests/interop/package-lock.json.
# The tests drive /usr/bin/chromium through playwright-core; no browser is downloaded.

LASTMILE_INTEROP_DIR="$LASTMILE_ROOT/tests/interop"

ensure_interop() {
  ensure_packages chromium
  # Node.js may come from another source than Debian's package (whose npm would then
  # conflict with it): install Debian's only when node or npm is missing.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    ensure_packages nodejs npm
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 20 ]; then
    log "interop tests need Node.js >= 20 (found $(node --version 2>/dev/null || echo none))"
    return 1
  fi
  # npm ci when node_modules is missing or older than the lockfile.
  local stamp="$LASTMILE_INTEROP_DIR/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$LASTMILE_INTEROP_DIR/package-lock.json" -nt "$stamp" ]; then
    log "installing the interop tests' npm packages (npm ci)"
    (cd "$LASTMILE_INTEROP_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 || return 1
    touch "$stamp"
  fi
}
