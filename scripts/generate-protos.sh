#!/usr/bin/env bash
# Regenerates the Swift code for Protocol/*.proto: the change-log messages into
# Sources/PaxsyncLog/Generated, the sync messages into Sources/PaxsyncWire/Generated,
# the gRPC service stubs into Sources/PaxsyncNet/Generated.
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
(cd "$tools" && swift build -c release --product protoc-gen-grpc-swift-2 --scratch-path "$scratch" >&2)
bin="$scratch/release"
mappings="$root/Protocol/module-mappings.asciipb"

# Generates into $1/PaxsyncLog, $1/PaxsyncWire and $1/PaxsyncNet.
generate() {
  mkdir -p "$1/PaxsyncLog" "$1/PaxsyncWire" "$1/PaxsyncNet"
  # The change-log messages: PaxsyncLog.
  protoc --proto_path="$root/Protocol" \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --swift_opt=Visibility=Public \
    --swift_out="$1/PaxsyncLog" \
    "$root/Protocol/paxsync_log.proto"
  # The sync messages: PaxsyncWire, importing PaxsyncLog.
  protoc --proto_path="$root/Protocol" \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --swift_opt=Visibility=Public --swift_opt=ProtoPathModuleMappings="$mappings" \
    --swift_out="$1/PaxsyncWire" \
    "$root/Protocol/paxsync_sync.proto"
  # The sync service: PaxsyncNet, importing the messages from PaxsyncWire.
  protoc --proto_path="$root/Protocol" \
    --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
    --grpc-swift-2_opt=Visibility=Public --grpc-swift-2_opt=ProtoPathModuleMappings="$mappings" \
    --grpc-swift-2_opt=ExtraModuleImports=PaxsyncWire \
    --grpc-swift-2_out="$1/PaxsyncNet" \
    "$root/Protocol/paxsync_sync.proto"
}

if [[ "${1:-}" == "--check" ]]; then
  out=$(mktemp -d)
  generate "$out"
  stale=0
  for module in PaxsyncLog PaxsyncWire PaxsyncNet; do
    if ! diff -r "$out/$module" "$root/Sources/$module/Generated" >&2; then stale=1; fi
  done
  if [[ $stale == 0 ]]; then
    echo "generated code is current"
  else
    echo "generated code is stale: run scripts/generate-protos.sh and commit" >&2
    exit 1
  fi
else
  out=$(mktemp -d)
  generate "$out"
  for module in PaxsyncLog PaxsyncWire PaxsyncNet; do
    rm -rf "$root/Sources/$module/Generated"
    mv "$out/$module" "$root/Sources/$module/Generated"
  done
  echo "regenerated Sources/PaxsyncLog/Generated, Sources/PaxsyncWire/Generated and Sources/PaxsyncNet/Generated"
fi
