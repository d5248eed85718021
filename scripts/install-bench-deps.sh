#!/usr/bin/env bash
# Installs the load generators and peer proxies that scripts/bench.sh compares Sluice with.
# Idempotent and non-interactive: only missing tools are installed, `apt-get update` runs at most once.
# Optional extras (gnuplot for the PNG chart) are installed with WITH_GNUPLOT=1 (default 1).
set -euo pipefail

WITH_GNUPLOT="${WITH_GNUPLOT:-1}"

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    echo "install-bench-deps: need root (or sudo) to run apt-get" >&2
    exit 1
  fi
else
  SUDO=()
fi

# command -> Debian package
declare -A PKG=(
  [wrk]=wrk
  [h2load]=nghttp2-client
  [nginx]=nginx
  [haproxy]=haproxy
  [taskset]=util-linux
)
if [[ "$WITH_GNUPLOT" == 1 ]]; then
  PKG[gnuplot]=gnuplot-nox
fi

missing=()
for cmd in "${!PKG[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$cmd" ]]; then
    missing+=("${PKG[$cmd]}")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-bench-deps: everything present"
  exit 0
fi

echo "install-bench-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

# The distribution packages start system services on install; the bench runs its own instances with
# its own configs, so stop the system ones (they would otherwise hold port 80 and compete for CPU).
for svc in nginx haproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    "${SUDO[@]}" systemctl stop "$svc" || true
    "${SUDO[@]}" systemctl disable "$svc" >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    "${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
  fi
done

for cmd in "${!PKG[@]}"; do
  if command -v "$cmd" >/dev/null 2>&1 || [[ -x "/usr/sbin/$cmd" ]]; then
    echo "  ok  $cmd"
  else
    echo "  MISSING $cmd" >&2
  fi
done
