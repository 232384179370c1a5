#!/usr/bin/env bash
# The README's commands on a brand-new machine: a check for before a release, not part of CI.
#
#   benchmarks/fresh_machine.sh [demo|test] [--keep]
#
# Makes a clean Debian bookworm amd64 root with mmdebstrap (Debian's python3 with venv, make,
# ca-certificates, and nothing of this machine's), copies a clean clone of this repository's HEAD
# into it and runs `make demo` (default) or `make test` there as root, then prints the wall time.
# A package that this machine got by hand and the project never installs shows up here as a failure,
# as it would on a user's machine or on CI's next one.
#
# Only the network set-up of this machine goes in: DNS, the CA bundle and pip's settings (PIP_*
# variables, and the folders named by PIP_FIND_LINKS read-only, where the CPU wheel of torch lies).
# Needs root and mmdebstrap (tests/devices/testbed/setup_host.sh installs it). Everything happens in a
# private mount namespace in a temporary folder, removed at the end unless --keep.
set -euo pipefail
job=demo keep=0
for arg in "$@"; do
  case "$arg" in
    demo|test) job=$arg ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [demo|test] [--keep]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "fresh_machine: needs root (mmdebstrap, chroot, mounts)" >&2; exit 2; }
command -v mmdebstrap >/dev/null || { echo "fresh_machine: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 2; }
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)

work=$(mktemp -d "${TMPDIR:-/var/tmp}/edgedistill-fresh.XXXXXX")
[ "$keep" = 1 ] || trap 'rm -rf --one-file-system "$work"' EXIT
root="$work/root"

# the machine's own Debian mirror: deb822 sources (bookworm's default) or a classic sources.list
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

t0=$(date +%s)
echo "fresh_machine: making a clean bookworm amd64 root in $root" >&2
TMPDIR="$work" mmdebstrap --quiet --arch=amd64 --variant=apt \
  --include=python3,python3-venv,make,ca-certificates \
  bookworm "$root" "$mirror"
t1=$(date +%s)

git clone --quiet --no-hardlinks "$repo" "$root/work/edgedistill"
cp /etc/resolv.conf "$root/etc/resolv.conf"
[ -s /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"

# pip's settings of this machine, and the folders they name, go in as they are
envs=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 CI=true)
binds=()
while IFS='=' read -r name value; do
  envs+=("$name=$value")
  if [ "$name" = PIP_FIND_LINKS ]; then
    for dir in $value; do [ -d "$dir" ] && binds+=("$dir"); done
  fi
done < <(env | grep '^PIP_' || true)

# in a mount namespace of its own: every mount is gone when it ends, whatever happens
unshare --mount --propagation private bash -euo pipefail -s "$root" "$job" "${#binds[@]}" "${binds[@]}" "${envs[@]}" <<'INNER'
root=$1 job=$2 nbinds=$3; shift 3
binds=("${@:1:$nbinds}"); shift "$nbinds"
mount --bind "$root" "$root"  # the root a mount point, as on a machine: `ip netns exec` remounts / as a slave
for dir in "${binds[@]}"; do
  mkdir -p "$root$dir" && mount --bind -o ro "$dir" "$root$dir" && mount -o remount,bind,ro "$root$dir"
done
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
chroot "$root" /usr/bin/env -i "$@" bash -c "cd /work/edgedistill && make $job"
INNER
t2=$(date +%s)

printf 'fresh_machine: make %s passed in a clean bookworm root: %d s (root made in %d s, make %s %d s)\n' \
  "$job" $((t2 - t0)) $((t1 - t0)) "$job" $((t2 - t1))
[ "$keep" = 0 ] || echo "fresh_machine: kept $root" >&2
