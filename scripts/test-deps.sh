#!/usr/bin/env bash
# Installs the real servers the integration tests talk to, if any is missing:
# VictoriaMetrics, carbon-cache with the whisper module, Prometheus, netdata
# (with its python.d plugin), plus curl and openssl (TLS test helpers),
# Chromium and Firefox ESR (the status page's browser tests), and cargo-deb for the package
# test. Debian/Ubuntu only (apt-get).
#
# Idempotent and silent when everything is already present. Services that the
# packages' maintainer scripts would start are kept from starting (policy-rc.d)
# and anything that started anyway is stopped: the tests start their own
# instances on free ports and must not find a system-wide one in the way.
set -euo pipefail

# package name -> how to tell it is usable without dpkg (a binary on PATH or a
# python module). A package counts as present if dpkg says so or the probe works.
declare -A probe=(
  [victoria-metrics]="bin:victoria-metrics"
  [graphite-carbon]="bin:carbon-cache"
  [python3-whisper]="py:whisper"
  [prometheus]="bin:prometheus"
  [netdata]="bin:netdata"
  [netdata-plugins-python]="file:/usr/lib/netdata/plugins.d/python.d.plugin"
  [curl]="bin:curl"
  [openssl]="bin:openssl"
  [chromium]="bin:chromium"
  [firefox-esr]="bin:firefox"
)
order=(victoria-metrics graphite-carbon python3-whisper prometheus netdata netdata-plugins-python curl openssl chromium firefox-esr)

# root's PATH may lack the sbin directories where netdata lives.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# The packaging test builds the .deb with cargo-deb, from crates.io: compiled once per machine.
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "test-deps: installing cargo-deb (cargo install, once; a few minutes)" >&2
  cargo install --locked --quiet cargo-deb
fi

present() {
  local pkg=$1 kind=${probe[$1]%%:*} what=${probe[$1]#*:}
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    return 0
  fi
  case $kind in
    bin) command -v "$what" >/dev/null 2>&1 ;;
    file) [ -e "$what" ] ;;
    py) for py in /usr/bin/python3 python3; do "$py" -c "import $what" >/dev/null 2>&1 && return 0; done; return 1 ;;
  esac
}

missing=()
for pkg in "${order[@]}"; do
  present "$pkg" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

is_ci() { case "${CI:-}" in ""|0|false|False|FALSE) return 1 ;; *) return 0 ;; esac; }

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "test-deps: missing ${missing[*]}; run as root (or with passwordless sudo) to install them:" >&2
    echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
    if is_ci; then exit 1; fi
    echo "test-deps: continuing; tests needing them will print SKIPPED" >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
  if is_ci; then exit 1; fi
  exit 0
fi

echo "test-deps: installing ${missing[*]}" >&2

# Daemons already running before the install are not ours to stop. Found via
# /proc (procps may not be installed); comm is cut to 15 characters.
running() {
  local d c
  for d in /proc/[0-9]*; do
    c=$(cat "$d/comm" 2>/dev/null) || continue
    case $c in
      netdata|prometheus|victoria-metric|carbon-cache|carbon-relay|carbon-aggregat) echo "${d#/proc/}" ;;
    esac
  done | sort
}
before=$(running)

# Forbid service starts from maintainer scripts while installing, unless the
# machine already has its own policy.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null

# Stop whatever the install started anyway (by pid, never by name).
started=$(comm -13 <(echo "$before") <(running) | sed '/^$/d')
if [ -n "$started" ]; then
  echo "test-deps: stopping services started by the install: $(echo $started)" >&2
  # shellcheck disable=SC2086
  "${sudo[@]}" kill $started 2>/dev/null || true
  for _ in $(seq 1 50); do
    alive=""
    for pid in $started; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  [ -n "$alive" ] && "${sudo[@]}" kill -9 $alive 2>/dev/null || true
fi

still=()
for pkg in "${order[@]}"; do
  present "$pkg" || still+=("$pkg")
done
if [ ${#still[@]} -ne 0 ]; then
  echo "test-deps: still missing after install: ${still[*]}" >&2
  exit 1
fi
