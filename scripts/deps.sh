#!/usr/bin/env bash
# Installs the Debian packages a step needs, saying which, or tells you the
# exact command to run when it cannot (not root).
#
#   scripts/deps.sh build   # what building the agent needs
#   scripts/deps.sh test    # what the whole test suite needs
set -euo pipefail

build_pkgs=(pkg-config libelf-dev zlib1g-dev make gcc)
# clang-19/llvm-19: the pinned BPF toolchain (reproducibility check).
# btrfs-progs/xfsprogs/e2fsprogs: the real filesystems the tests mount.
# qemu-system-*/kmod/xz-utils/zstd: the real-kernel matrix (cargo xtask vmtest);
# gcc-aarch64-linux-gnu + libc6-dev-arm64-cross (its libc headers, which
# --no-install-recommends leaves out) + libzstd-dev: the static arm64 guest tracer.
# rsyslog: the real syslog receiver of the sink tests; attr: setfattr;
# auditd: the peer the FIM who-data is compared with.
# prometheus (promtool) + openssl: the deploy/ tests check and unit-test the
# alert rules and validate the example configs (a throwaway TLS pair).
# systemd: systemd-analyze verify of deploy/systemd/vigil.service.
# prometheus (the server) also scrapes the agent's endpoint in the tests;
# curl fetches it for promtool check metrics.
test_pkgs=("${build_pkgs[@]}" clang-19 llvm-19 btrfs-progs xfsprogs e2fsprogs util-linux mount
	qemu-system-x86 qemu-system-arm kmod xz-utils zstd dpkg debian-archive-keyring
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross libzstd-dev rsyslog attr auditd prometheus openssl systemd curl)

case "${1:-}" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${test_pkgs[@]}") ;;
*) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "vigil: missing system packages: ${missing[*]}" >&2
	echo "vigil: install them with:  sudo sh -c '$cmd'" >&2
	exit 1
fi
echo "vigil: installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
