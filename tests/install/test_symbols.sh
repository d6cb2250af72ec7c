#!/bin/sh
# The shared library exports exactly the functions the public header declares (all named
# evio_*), and nothing else (no C++ runtime, no internals); its SONAME is libevio.so.1.
# Usage: test_symbols.sh <libevio.so.1> <evio.h>
set -eu
lib=$1 header=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -f "$lib" ] || fail "$lib does not exist"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libevio.so.1" ] || fail "SONAME is '$soname', want libevio.so.1"

# Defined dynamic symbols, without version suffixes; the version node itself (type A,
# e.g. EVIO_1.0) is not a symbol of the code.
exported=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u)
# Declarations start a line with EVIO_EXPORT; the name is the word before the first '('.
declared=$(grep '^EVIO_EXPORT ' "$header" | sed 's/(.*//' | awk '{ print $NF }' |
  sed 's/^\**//' | sort -u)

[ -n "$exported" ] || fail "no exported symbols found"
[ -n "$declared" ] || fail "no declarations found in $header"
echo "exported: $(echo "$exported" | wc -l) symbols; declared: $(echo "$declared" | wc -l) functions"

bad=$(echo "$exported" | grep -v '^evio_' || true)
[ -z "$bad" ] || fail "symbols not named evio_* are exported: $(echo "$bad" | tr '\n' ' ')"
missing=$(echo "$declared" | while read -r f; do echo "$exported" | grep -qx "$f" || echo "$f"; done)
[ -z "$missing" ] || fail "declared in evio.h but not exported: $(echo "$missing" | tr '\n' ' ')"
extra=$(echo "$exported" | while read -r f; do echo "$declared" | grep -qx "$f" || echo "$f"; done)
[ -z "$extra" ] || fail "exported but not in evio.h (private API leaking): $(echo "$extra" | tr '\n' ' ')"
echo "exported symbols match evio.h"
