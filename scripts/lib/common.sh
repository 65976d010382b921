# Shared by scripts/test and scripts/run-server: installs what is missing (Debian),
# configures and builds. Sourced, not executed.
set -euo pipefail

LASTMILE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
JOBS="${JOBS:-$(nproc)}"

# Debian packages the build needs. Test-only packages are added by scripts/test.
LASTMILE_BUILD_PACKAGES=(
  g++ cmake ninja-build ccache pkg-config
  libasio-dev node-llhttp libsimdjson-dev doctest-dev
  libssl-dev zlib1g-dev libsqlite3-dev libbenchmark-dev
)

log() { printf '[lastmile] %s\n' "$*" >&2; }

# Installs the given Debian packages that are not installed yet; quick when all are.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# configure_build DIR [cmake args...]: configures (once) and builds DIR.
configure_build() {
  local dir="$1"; shift
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S "$LASTMILE_ROOT" -B "$dir" -G Ninja "${launcher[@]}" "$@" >/dev/null
}

build() {
  local dir="$1"; shift
  cmake --build "$dir" -j "$JOBS" "$@"
}
