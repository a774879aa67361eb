#!/usr/bin/env bash
# Install Debian's chromium (for the headless dashboard tests) when /usr/bin/chromium is missing.
# Never `playwright install`: it downloads browsers from a CDN; the Debian package comes from the apt mirror.
set -euo pipefail

CHROMIUM="${OPENFINOPS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  echo "chromium present: $CHROMIUM"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "chromium is missing and this user is not root and has no sudo: install the 'chromium' package" >&2
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || { echo "chromium is missing and apt-get is not available" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
echo "installing Debian chromium ..."
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x "$CHROMIUM" ] || { echo "chromium install finished but $CHROMIUM is still missing" >&2; exit 1; }
"$CHROMIUM" --version || true
