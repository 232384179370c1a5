#!/usr/bin/env bash
# Prepare this machine to host the test devices (root only; a no-op otherwise, and the device
# tests then skip): OpenSSH, adb, qemu-user with binfmt_misc, mmdebstrap for the arm64 rootfs;
# and headless Chromium, which renders report.html in tests/pipeline/report/test_html.py.
set -euo pipefail
trap 'echo "setup_host: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
if [ "$(id -u)" != 0 ]; then
  echo "setup_host: not root; the device tests will be skipped" >&2
  exit 0
fi
need=""
for pkg in openssh-server openssh-client adb qemu-user-static binfmt-support mmdebstrap arch-test zstd iproute2 util-linux chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
  log=$(mktemp)
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need; } >"$log" 2>&1; then
    cat "$log" >&2; exit 1
  fi
  rm -f "$log"
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
# the arm64 rootfs is cached outside the clone; build it now (minutes) rather than inside a test
"$(dirname "$0")/build_arm64_rootfs.sh" >/dev/null
