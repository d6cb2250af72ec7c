#!/bin/sh
# evio.pc names the right directories for every usual libdir layout: lib, lib64 and the
# Debian multiarch lib/<triplet> (what GNUInstallDirs picks for --prefix /usr on Debian).
# For each, configure evio (no build), place the generated evio.pc where it is installed,
# <prefix>/<libdir>/pkgconfig, and ask pkg-config where it points.
# Usage: test_pc_libdir.sh <source dir> <cmake>
set -eu
src=$1 cmake=$2
tmp=$(mktemp -d /tmp/evio-pc-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }
real() { (cd "$1" 2>/dev/null && pwd -P) || echo "(missing: $1)"; }

for libdir in lib lib64 lib/x86_64-linux-gnu; do
  prefix=$tmp/prefix-$(echo "$libdir" | tr / _)
  rm -rf "$tmp/b"
  "$cmake" -S "$src" -B "$tmp/b" -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR="$libdir" \
    -DEVIO_BUILD_TESTS=OFF -DEVIO_BUILD_EXAMPLES=OFF -DEVIO_BUILD_BENCH=OFF >"$tmp/conf.log" 2>&1 ||
    { cat "$tmp/conf.log"; fail "configure with CMAKE_INSTALL_LIBDIR=$libdir"; }
  pc=$tmp/b/evio.pc
  [ -f "$pc" ] || fail "no generated evio.pc in the build tree"
  mkdir -p "$prefix/$libdir/pkgconfig" "$prefix/include"
  cp "$pc" "$prefix/$libdir/pkgconfig/evio.pc"
  inc=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config --variable=includedir evio)
  lib=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config --variable=libdir evio)
  echo "libdir=$libdir: includedir=$inc libdir=$lib"
  [ "$(real "$inc")" = "$(real "$prefix/include")" ] ||
    fail "with CMAKE_INSTALL_LIBDIR=$libdir, evio.pc says includedir=$inc, want $prefix/include"
  [ "$(real "$lib")" = "$(real "$prefix/$libdir")" ] ||
    fail "with CMAKE_INSTALL_LIBDIR=$libdir, evio.pc says libdir=$lib, want $prefix/$libdir"
done
echo "evio.pc is right for every libdir layout"
