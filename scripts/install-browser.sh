#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (test/studio.test.ts), which
# drives it with playwright-core. Debian's package is used because nothing but
# the package registries is reachable: Playwright's own browser download cannot work.
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "install-browser: /usr/bin/chromium already installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null

if [ ! -x /usr/bin/chromium ]; then
  echo "install-browser: apt-get installed chromium but /usr/bin/chromium is missing" >&2
  exit 1
fi
echo "install-browser: installed $(/usr/bin/chromium --version)"
