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

build=$(cd "$build" && pwd)
export PKG_CONFIG_PATH="$pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# Go's build cache does not notice when pkg-config's answer changes, so a test binary
# linked earlier against another build tree could be reused with that tree's runpath:
# name this tree in CGO_LDFLAGS (part of the cache key) and in the loader's path.
export CGO_LDFLAGS="${CGO_LDFLAGS:--O2 -g} -L$build"
export LD_LIBRARY_PATH="$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CGO_ENABLED=1
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} # the machine's Go, never a download
export GOFLAGS="${GOFLAGS:-} -p=2 -buildvcs=false" # 2 shared cores; no VCS stamping
cd "$here"
go version
echo "+ go vet ./..."
go vet ./...
echo "+ go test -race -count=1 ./..."
go test -race -count=1 ./...
# Once more with every server on the library's std (libuv) engine, as the C suite does
# (the -net subtests already cover it for the main features).
echo "+ EVIO_ENGINE=std go test -race -count=1 ."
EVIO_ENGINE=std go test -race -count=1 .
