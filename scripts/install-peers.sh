#!/usr/bin/env bash
# Installs the real web servers and tools the integration tests talk to (and Chromium,
# which tests/browser_test.ts drives through playwright-core), and builds
# Pound (Debian 12 has no package) from the source release the project keeps beside the
# repository (shared/peers/, so ../shared/peers/ from the repository root; override
# with CARAFE_PEERS_SRC). Idempotent: does nothing (and prints nothing) when every
# package is present and Pound is already built.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(nginx lighttpd apache2 haproxy fcgiwrap libfcgi-bin spawn-fcgi wrk curl openssl systemd
  libapache2-mod-passenger iproute2 build-essential libssl-dev libpcre2-dev
  chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ${#missing[@]} -ne 0 ]; then
  echo "install-peers: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  # Debian's packages start their daemons on install (port 80); the tests start their own
  # copies, so policy-rc.d keeps the system services from starting.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Pound: built once into a cache folder shared by every clone on this machine; the tests
# look for it there (tests/_deploy_helpers.ts) when it is not on PATH.
pound_version=4.23.90
pound_cache=${CARAFE_PEERS_CACHE:-/var/cache/carafe-peers}/pound-$pound_version
pound_src=${CARAFE_PEERS_SRC:-../shared/peers}/pound-$pound_version.tar.gz
if [ ! -x "$pound_cache/pound" ] || [ ! -x "$pound_cache/poundctl" ]; then
  if [ ! -f "$pound_src" ]; then
    echo "install-peers: $pound_src not found; the Pound recipe's tests will skip (fail under CI=true)" >&2
    exit 0
  fi
  echo "install-peers: building Pound $pound_version into $pound_cache" >&2
  build=$(mktemp -d)
  tar xzf "$pound_src" -C "$build"
  (cd "$build/pound-$pound_version" && ./configure --quiet >/dev/null && make -j2 >/dev/null 2>&1) || {
    echo "install-peers: the Pound build failed (in $build)" >&2
    exit 1
  }
  $SUDO mkdir -p "$pound_cache"
  # poundctl takes an instance out of rotation before it is stopped (the Pound recipe).
  $SUDO cp "$build/pound-$pound_version/src/pound" "$build/pound-$pound_version/src/poundctl" "$pound_cache/"
  rm -rf "$build"
fi
