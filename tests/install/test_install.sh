#!/bin/sh
# Install evio into a temporary prefix, then build and run a consumer program against the
# installed files only: through pkg-config, and through find_package(evio CONFIG) with the
# shared (evio::evio) and the static (evio::evio_static) library.
# Usage: test_install.sh <build dir> <this dir> <cmake> <C compiler> "<extra C/link flags>"
set -eu
build=$1 here=$2 cmake=$3 cc=$4 flags=${5:-}

tmp=$(mktemp -d /tmp/evio-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "install"; }

[ -f "$prefix/include/evio.h" ] || fail "no include/evio.h installed"
[ -n "$(find "$prefix" -name libevio.a)" ] || fail "no libevio.a installed"
[ -n "$(find "$prefix" -name evioConfig.cmake)" ] || fail "no evioConfig.cmake installed"
sh "$here/build_consumers.sh" "$prefix" "$here" "$cmake" "$cc" "$flags" "$tmp"
echo "install test passed"
