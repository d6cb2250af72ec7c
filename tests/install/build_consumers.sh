#!/bin/sh
# Build and run consumer.c against an evio found under <prefix> only: through pkg-config,
# and through find_package(evio CONFIG) with the shared (evio::evio) and the static
# (evio::evio_static) library. Each program must load the libevio.so.1 under <prefix>.
# Used by test_install.sh (cmake --install) and test_deb.sh (the extracted .debs).
# Usage: build_consumers.sh <prefix> <this dir> <cmake> <C compiler> "<flags>" <scratch dir>
set -eu
prefix=$1 here=$2 cmake=$3 cc=$4 flags=$5 tmp=$6

fail() { echo "FAIL: $*" >&2; exit 1; }

pc=$(find "$prefix" -name evio.pc | head -n 1)
so=$(find "$prefix" -name libevio.so.1 | head -n 1)
[ -n "$pc" ] || fail "no evio.pc under $prefix"
[ -n "$so" ] || fail "no libevio.so.1 under $prefix"
libdir=$(dirname "$so")

echo "== pkg-config (PKG_CONFIG_PATH=$(dirname "$pc"))"
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
cflags=$(pkg-config --cflags evio) || fail "pkg-config --cflags evio"
libs=$(pkg-config --libs evio) || fail "pkg-config --libs evio"
echo "cflags: $cflags"
echo "libs:   $libs"
# The flags must name the installed files (after resolving ".." and links), not the build
# tree or another installation.
real() { (cd "$1" 2>/dev/null && pwd -P) || echo "(missing: $1)"; }
incdir=$(echo "$cflags" | tr ' ' '\n' | sed -n 's/^-I//p' | head -n 1)
ldir=$(echo "$libs" | tr ' ' '\n' | sed -n 's/^-L//p' | head -n 1)
[ "$(real "$incdir")" = "$(real "$prefix/include")" ] ||
  fail "pkg-config --cflags names '$incdir', not the installed include directory $prefix/include"
[ "$(real "$ldir")" = "$(real "$libdir")" ] ||
  fail "pkg-config --libs names '$ldir', not the installed library directory $libdir"
# shellcheck disable=SC2086 # word splitting of the flags is intended
"$cc" $flags -std=c99 -Wall -Wextra -Werror -o "$tmp/consumer_pc" "$here/consumer.c" $cflags $libs \
  || fail "compiling the consumer with pkg-config flags"
LD_LIBRARY_PATH=$libdir "$tmp/consumer_pc" || fail "the pkg-config consumer failed"
LD_LIBRARY_PATH=$libdir ldd "$tmp/consumer_pc" | grep -q "$libdir/libevio.so.1" \
  || fail "the pkg-config consumer does not load the installed libevio.so.1"

echo "== find_package(evio CONFIG) (CMAKE_PREFIX_PATH=$prefix)"
"$cmake" -S "$here/cmake_consumer" -B "$tmp/cbuild" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
  -DCONSUMER_SRC="$here/consumer.c" >"$tmp/cconf.log" 2>&1 || { cat "$tmp/cconf.log"; fail "configuring the CMake consumer"; }
"$cmake" --build "$tmp/cbuild" >"$tmp/cbuild.log" 2>&1 || { cat "$tmp/cbuild.log"; fail "building the CMake consumer"; }
LD_LIBRARY_PATH=$libdir "$tmp/cbuild/consumer_shared" || fail "the CMake (shared) consumer failed"
LD_LIBRARY_PATH=$libdir ldd "$tmp/cbuild/consumer_shared" | grep -q "$libdir/libevio.so.1" \
  || fail "the CMake (shared) consumer does not load the installed libevio.so.1"
"$tmp/cbuild/consumer_static" || fail "the CMake (static) consumer failed"
if ldd "$tmp/cbuild/consumer_static" | grep -q libevio; then
  fail "the static consumer loads libevio.so"
fi
