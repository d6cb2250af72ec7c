#!/usr/bin/env bash
# Builds and checks the Rust bindings against a C build tree.
#
#   EVIO_BUILD_DIR=/path/to/build bindings/rust/test.sh
#
# EVIO_BUILD_DIR is the CMake build directory holding libevio.so (default: the `build`
# directory at the root of this checkout, i.e. /work/main/build here). Runs, in order:
#   cargo test; cargo clippy --all-targets -- -D warnings; cargo doc --no-deps (-Dwarnings)
# Dependencies are fetched once (cargo fetch); every later step runs offline.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${EVIO_BUILD_DIR:-$root/build}"
cd "$here"

if [ ! -e "$build/libevio.so" ]; then
    echo "test.sh: no libevio.so in $build" >&2
    echo "  build the C library first: cmake -S $root -B $build && cmake --build $build -j2" >&2
    exit 1
fi
build="$(cd "$build" && pwd)"

# rustup's toolchain (the one the bindings need) before any distribution cargo.
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if [ -x "$cargo_bin/cargo" ]; then
    export PATH="$cargo_bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
    exit 1
fi
need_minor=77 # rust-version in Cargo.toml: 1.77
have=$(rustc --version | sed -E 's/^rustc ([0-9]+)\.([0-9]+).*/\1 \2/')
read -r have_major have_minor <<<"$have"
if [ "$have_major" -lt 1 ] || { [ "$have_major" -eq 1 ] && [ "$have_minor" -lt "$need_minor" ]; }; then
    echo "test.sh: $(rustc --version) is too old; the bindings need Rust 1.$need_minor or newer (rustup)" >&2
    exit 1
fi

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Find the library through pkg-config (the build tree's uninstalled .pc file) when the tool
# is there, else point evio-sys at the directory directly.
pc_dir="$build/pkgconfig-uninstalled"
if command -v pkg-config >/dev/null 2>&1 && [ -f "$pc_dir/evio.pc" ]; then
    export PKG_CONFIG_PATH="$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    unset EVIO_LIB_DIR
    echo "test.sh: linking libevio via pkg-config ($pc_dir/evio.pc)"
else
    export EVIO_LIB_DIR="$build"
    echo "test.sh: linking libevio from EVIO_LIB_DIR=$build"
fi
# Test and example binaries carry an rpath to $build; doctests do not, so they need this.
export LD_LIBRARY_PATH="$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Fetch dependencies once (no network needed when they are already in the cargo cache).
if ! cargo fetch --locked --offline >/dev/null 2>&1; then
    cargo fetch --locked
fi
export CARGO_NET_OFFLINE=true

if ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
        rustup component add clippy
    else
        echo "test.sh: cargo clippy is missing and there is no rustup to add it" >&2
        exit 1
    fi
fi

echo "== cargo test"
cargo test --locked --workspace

echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "== cargo doc"
RUSTDOCFLAGS="${RUSTDOCFLAGS:+$RUSTDOCFLAGS }-Dwarnings" cargo doc --locked --workspace --no-deps

echo "test.sh: all Rust checks passed"
