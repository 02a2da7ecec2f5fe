#!/usr/bin/env bash
# The whole test suite: style, lints, the BPF objects' reproducibility,
# and every test against the real kernel (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
if [[ $(id -u) -ne 0 ]]; then
	echo "vigil: the tests load BPF programs and mount filesystems: run them as root" >&2
	exit 1
fi
step() { echo "==> $*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings
step "BPF objects are reproducible from their sources (pinned clang-19)"
cargo xtask check-bpf
step "tests on the host kernel"
cargo test --locked --workspace
step "real kernels in QEMU: 5.10, 6.1, 6.12 (x86_64); 6.1, 6.12 (arm64)"
cargo xtask vmtest
