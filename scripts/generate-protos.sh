#!/usr/bin/env bash
# Regenerates the Swift code for Protocol/*.proto into Sources/PaxsyncLog/Generated.
#
# Needs protoc (Debian: apt-get install protobuf-compiler). The Swift generators
# are built from the served swift-protobuf and grpc-swift-protobuf packages by the
# side package in Tools/protoc-gen (build folder Tools/protoc-gen/.build-protoc).
#
#   scripts/generate-protos.sh          regenerate
#   scripts/generate-protos.sh --check  fail if the committed code is not current
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler" >&2; exit 1; }

tools="$root/Tools/protoc-gen"
scratch="$tools/.build-protoc"
(cd "$tools" && swift build -c release --product protoc-gen-swift --scratch-path "$scratch" >&2)
bin="$scratch/release"

out="$root/Sources/PaxsyncLog/Generated"
if [[ "${1:-}" == "--check" ]]; then
  out=$(mktemp -d)
fi
protoc --proto_path="$root/Protocol" \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --swift_opt=Visibility=Public \
  --swift_out="$out" \
  "$root"/Protocol/*.proto

if [[ "${1:-}" == "--check" ]]; then
  if diff -r "$out" "$root/Sources/PaxsyncLog/Generated" >/dev/null; then
    echo "generated code is current"
  else
    diff -r "$out" "$root/Sources/PaxsyncLog/Generated" | head -40 >&2
    echo "generated code is stale: run scripts/generate-protos.sh and commit" >&2
    exit 1
  fi
fi
