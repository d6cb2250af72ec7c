#!/bin/sh
# Runs a fuzz target once on every file of its seed corpus and its kept regression inputs
# (ctest's fuzz.<name>): a crash, a failed check or a leak fails. Files only, so libFuzzer
# runs them as given and writes nothing; the targets' scratch directory (TMPDIR) is a fresh
# one, removed afterwards.
# Usage: replay.sh <fuzz binary> <dir>...
set -eu
bin=$1
shift
files=$(for d in "$@"; do [ -d "$d" ] && find "$d" -type f ! -name 'README*'; done | sort)
if [ -z "$files" ]; then
  echo "replay.sh: no inputs in $*"
  exit 0
fi
echo "replay.sh: $(echo "$files" | wc -l) inputs"
scratch=$(mktemp -d)
status=0
# shellcheck disable=SC2086 # one word per file (the names have no blanks)
TMPDIR=$scratch "$bin" $files || status=$?
rm -rf "$scratch"
exit "$status"
