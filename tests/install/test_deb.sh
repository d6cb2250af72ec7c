#!/bin/sh
# Build the .debs (cmake/packaging.cmake) from a build directory, check their names,
# versions, dependencies and how the files are split, extract them into a scratch root
# (dpkg-deb -x: nothing is installed on the machine) and build and run consumer.c against
# that root only, through pkg-config and through find_package(evio CONFIG).
# Usage: test_deb.sh <build dir> <this dir> <cmake> <cpack> <C compiler> "<flags>" <version>
#        <docs: 1 when the build has a docs target>
# Exit 77 (skipped) without dpkg-deb (not a Debian system).
set -eu
build=$1 here=$2 cmake=$3 cpack=$4 cc=$5 flags=$6 version=$7 docs=$8

command -v dpkg-deb >/dev/null || { echo "dpkg-deb missing: skipped"; exit 77; }
tmp=$(mktemp -d /tmp/evio-deb-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "$docs" = 1 ]; then
  "$cmake" --build "$build" --target docs >"$tmp/docs.log" 2>&1 || { cat "$tmp/docs.log"; fail "docs"; }
fi
echo "== cpack ($build/CPackConfig.cmake)"
"$cpack" --config "$build/CPackConfig.cmake" -B "$tmp/debs" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log"; fail "cpack"; }
lib=$(find "$tmp/debs" -maxdepth 1 -name "libevio1_${version}-1_*.deb")
dev=$(find "$tmp/debs" -maxdepth 1 -name "libevio-dev_${version}-1_*.deb")
[ -n "$lib" ] && [ -n "$dev" ] || { ls "$tmp/debs"; fail "no libevio1 and libevio-dev $version-1 .debs"; }

echo "== control fields"
field() { dpkg-deb -f "$1" "$2"; }
for deb in "$lib" "$dev"; do
  echo "$(field "$deb" Package) $(field "$deb" Version): Depends: $(field "$deb" Depends)"
  [ "$(field "$deb" Version)" = "$version-1" ] || fail "$deb: version is not $version-1"
done
field "$lib" Depends | grep -q 'libuv1 (>=' || fail "libevio1 does not depend on libuv1 (dpkg-shlibdeps)"
field "$lib" Depends | grep -q 'libc6 (>=' || fail "libevio1 does not depend on libc6 (dpkg-shlibdeps)"
field "$dev" Depends | grep -q "libevio1 (= $version-1)" || fail "libevio-dev does not depend on libevio1 (= $version-1)"
field "$dev" Depends | grep -q 'libuv1-dev' || fail "libevio-dev does not depend on libuv1-dev"

echo "== contents"
# "path" for files, "path -> target" for links; directories left out.
contents() { dpkg-deb -c "$1" | grep -v '^d' | sed 's/^\([^ ]* *\)\{5\}//' | sort; }
contents "$lib" >"$tmp/lib.txt"
contents "$dev" >"$tmp/dev.txt"
has() { grep -Eq "$2" "$tmp/$1.txt" || { cat "$tmp/$1.txt"; fail "$1 package lacks $2"; }; }
lacks() { ! grep -Eq "$2" "$tmp/$1.txt" || fail "$1 package holds $2"; }
has lib "/libevio\.so\.1 -> libevio\.so\.$version$"
has lib "/libevio\.so\.$version$"
has lib "^\./usr/share/doc/libevio1/copyright$"
lacks lib "evio\.h|/libevio\.so( |$)|\.a$|\.pc$|\.cmake$"
has dev "^\./usr/include/evio\.h$"
has dev "/libevio\.so -> libevio\.so\.1$"
has dev "/libevio\.a$"
has dev "/pkgconfig/evio\.pc$"
has dev "/cmake/evio/evioConfig\.cmake$"
has dev "^\./usr/share/doc/libevio-dev/copyright$"
[ "$docs" = 1 ] && has dev "^\./usr/share/doc/libevio-dev/html/index\.html$"
lacks dev "/libevio\.so\.1"
sed 's/ -> .*//' "$tmp/lib.txt" "$tmp/dev.txt" | sort | uniq -d >"$tmp/both.txt"
[ ! -s "$tmp/both.txt" ] || { cat "$tmp/both.txt"; fail "files in both packages"; }

echo "== dpkg-deb -x into $tmp/root"
dpkg-deb -x "$lib" "$tmp/root"
dpkg-deb -x "$dev" "$tmp/root"
so=$(find "$tmp/root" -name "libevio.so.$version")
readelf -d "$so" | grep -q 'SONAME.*\[libevio\.so\.1\]' || fail "$so: SONAME is not libevio.so.1"
sh "$here/build_consumers.sh" "$tmp/root/usr" "$here" "$cmake" "$cc" "$flags" "$tmp"
echo "deb test passed"
