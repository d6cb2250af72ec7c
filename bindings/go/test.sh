#!/usr/bin/env bash
# Vets and tests the Go binding (with the race detector) against a C build tree.
# Usage: EVIO_BUILD_DIR=/path/to/build bindings/go/test.sh
# EVIO_BUILD_DIR defaults to the build/ directory at the top of this checkout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${EVIO_BUILD_DIR:-$(cd "$here/../.." && pwd)/build}
pc="$build/pkgconfig-uninstalled"

if [ ! -f "$pc/evio.pc" ]; then
  echo "bindings/go/test.sh: $pc/evio.pc not found: build the C library first" >&2
  echo "  (cmake -S . -B build && cmake --build build), or set EVIO_BUILD_DIR" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "bindings/go/test.sh: no go toolchain in PATH" >&2
  exit 1
fi

export PKG_CONFIG_PATH="$pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export CGO_ENABLED=1
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} # the machine's Go, never a download
export GOFLAGS="${GOFLAGS:-} -p=2"       # the machines have 2 cores, shared
cd "$here"
go version
echo "+ go vet ./..."
go vet ./...
echo "+ go test -race -count=1 ./..."
go test -race -count=1 ./...
