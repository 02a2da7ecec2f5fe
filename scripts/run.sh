#!/usr/bin/env bash
# Builds Vigil and runs its main job (`vigil run`) on the embedded default
# config. Extra arguments go to `vigil run` (e.g. --duration 30s).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cargo build --release --locked -p vigil
if [[ $(id -u) -ne 0 ]]; then
	echo "vigil: loading BPF programs needs root (or CAP_BPF + CAP_PERFMON); re-running with sudo" >&2
	exec sudo target/release/vigil run "$@"
fi
exec target/release/vigil run "$@"
