#!/usr/bin/env bash
# Debian packages some tests drive (a real browser, the reverse proxy's own config test,
# a certificate for it, `systemd-analyze verify` for the unit file).
# Installs what is missing when it can (root and apt-get); otherwise says what is
# missing and the tests that need it skip with that reason. Fast when all is there.
set -euo pipefail
wanted=(chromium chromium-driver nginx openssl systemd)
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || echo "WARNING: could not install ${missing[*]}; the tests that need them will skip" >&2
else
    echo "not installed (tests that need them will skip): ${missing[*]}" >&2
fi
