#!/usr/bin/env bash
# Installs the build in $1 into a temp prefix, then configures, builds and
# runs the consumer project in $2 against it with find_package(Postern): a
# library-mode program using the toolkit, and the three toolkit examples
# built as modules.
set -euo pipefail
build=$1
consumer=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
# The public headers stand alone: a program using only postern/ needs no
# Poco header (libpostern links Poco privately).
if grep -rlE '#[[:space:]]*include[[:space:]]*[<"]Poco/' "$tmp/prefix/include/postern"; then
    echo "install test: an installed postern header includes Poco" >&2
    exit 1
fi
cmake -S "$consumer" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/build" -j2 >/dev/null
"$tmp/build/consumer"
# The installed executable runs from the prefix too.
"$tmp/prefix/bin/postern" --version
