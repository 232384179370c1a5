#!/usr/bin/env bash
# Build (once) the arm64 Debian userland that plays the Raspberry Pi in the device tests.
#
#   tests/devices/testbed/build_arm64_rootfs.sh [OUT.tar.zst]
#
# Debian bookworm arm64 minbase + python3, numpy, openssh-server, plus ai-edge-litert 2.3.0 for
# aarch64 installed from PyPI wheels. Cached outside the clone (default
# ~/.cache/edgedistill/arm64-rootfs.tar.zst); an existing tarball is reused. Needs root,
# mmdebstrap and qemu-user-static with binfmt_misc (see .ci/run).
set -euo pipefail
trap 'echo "build_arm64_rootfs: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
out=${1:-${EDGEDISTILL_TESTBED:-$HOME/.cache/edgedistill}/arm64-rootfs.tar.zst}
[ -s "$out" ] && { echo "$out"; exit 0; }
# a Python with pip, for the aarch64 wheels: the project's venv (Debian's python3 has no pip), else python3
py=""
for candidate in "$(dirname "$0")/../../../.venv/bin/python" python3; do
  if "$candidate" -m pip --version >/dev/null 2>&1; then py=$candidate; break; fi
done
[ -n "$py" ] || { echo "build_arm64_rootfs: no Python with pip (run make setup first)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/.rootfs-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# the machine's own Debian mirror: deb822 sources (bookworm's default) or a classic sources.list
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

echo "building the arm64 test rootfs once (a few minutes): $out" >&2
TMPDIR="$work" mmdebstrap --quiet --arch=arm64 --variant=minbase \
  --include=python3,python3-numpy,openssh-server,openssh-sftp-server,procps,util-linux \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  bookworm "$work/rootfs" "$mirror"

site="$work/rootfs/usr/local/lib/python3.11/dist-packages"
"$py" -m pip install --quiet --root-user-action=ignore --no-deps --target "$site" \
  --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
  --python-version 3.11 --only-binary=:all: \
  ai-edge-litert==2.3.0 flatbuffers protobuf tqdm typing-extensions backports.strenum 'ml_dtypes<0.6'

tar --zstd -C "$work/rootfs" -cf "$work/rootfs.tar.zst" .
mv "$work/rootfs.tar.zst" "$out"
echo "$out"
