#!/usr/bin/env bash
# Installs the build in $1 into a temp prefix, then configures, builds and
# runs the consumer project in $2 against it with find_package(Postern).
set -euo pipefail
build=$1
consumer=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$consumer" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/build" -j2 >/dev/null
"$tmp/build/consumer"
# The installed executable runs from the prefix too.
"$tmp/prefix/bin/postern" --version
