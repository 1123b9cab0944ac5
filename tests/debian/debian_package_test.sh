#!/usr/bin/env bash
# The Debian packages as a user gets them: scripts/package builds them (with
# lintian, failing on errors), then this test installs them on this machine
# (apt-get install ./*.deb), checks `postern --version`, the man pages and
# `systemd-analyze verify` on the units, builds tests/install/consumer
# against the installed libpostern-dev with no CMAKE_PREFIX_PATH, runs the
# service as its unit does and fetches the hello page through a real nginx
# with the shipped /usr/share/postern/nginx/postern.conf, then purges the
# packages and checks that nothing of them is left.
#
# Where systemd runs (PID 1), the package's postinst has started
# postern.service: the test uses that service. Where it does not (a
# container, CI here), the test starts /usr/sbin/postern the way the unit
# does: /run/postern owned by postern (RuntimeDirectory=), as user and group
# postern with no new privileges (User=, Group=, NoNewPrivileges=), with
# --config /etc/postern/postern.conf, and stops it with SIGTERM.
#
# The postern user and group stay after purge, as Debian leaves system users
# (a later user must not inherit files they owned); the test checks that no
# file of theirs is left, and removes them itself if it created them, so the
# machine is as it was. It purges the packages on every exit, failure too.
#
# Needs root (dpkg); skipped with a message otherwise (exit 77), and also
# when the packages are already installed here (it would remove them).
# usage: debian_package_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
started=$SECONDS

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "the Debian package test installs packages: run it as root"
for p in postern libpostern0 libpostern-dev; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        skip "$p is installed on this machine; the test would purge it"
    fi
done

tmp=$(mktemp -d)
user_existed=""
getent passwd postern >/dev/null && user_existed=1
postern_pid=""
nginx_conf=""

cleanup() {
    local rc=$?
    set +e
    if [ -n "$postern_pid" ] && kill -0 "$postern_pid" 2>/dev/null; then
        kill -TERM "$postern_pid"
        wait "$postern_pid" 2>/dev/null
    fi
    [ -n "$nginx_conf" ] && [ -s "$tmp/nginx.pid" ] && nginx -c "$nginx_conf" -s stop 2>/dev/null
    if dpkg-query -W -f='${Status}' postern libpostern0 libpostern-dev 2>/dev/null | grep -q installed; then
        # apt-get waits for the dpkg lock if another install holds it.
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=300 \
            postern libpostern-dev libpostern0 >/dev/null 2>&1 ||
            echo "WARNING: could not purge the postern packages; run: dpkg --purge postern libpostern-dev libpostern0" >&2
    fi
    if [ -z "$user_existed" ] && getent passwd postern >/dev/null; then
        userdel postern 2>/dev/null
        getent group postern >/dev/null && groupdel postern 2>/dev/null
    fi
    rm -rf "$tmp"
    echo "debian package test: $((SECONDS - started)) s"
    exit $rc
}
trap cleanup EXIT

# --- build and lintian
# No debug-symbol packages: the test installs none, and they cost time.
DEB_BUILD_OPTIONS="noautodbgsym ${DEB_BUILD_OPTIONS:-}" "$src/scripts/package" >"$tmp/package.log" 2>&1 ||
    { tail -n 60 "$tmp/package.log"; fail "scripts/package (build or lintian errors)"; }
grep -E '^[EW]: ' "$tmp/package.log" || true
echo "built and checked in $((SECONDS - started)) s"

# --- install (apt-get pulls what the packages depend on)
debs=("$src"/build-deb/postern_*.deb "$src"/build-deb/libpostern0_*.deb "$src"/build-deb/libpostern-dev_*.deb)
DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
    --no-install-recommends "${debs[@]}" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "apt-get install of the packages"; }

version=$(dpkg-query -W -f='${Version}' postern)
[ "$(/usr/sbin/postern --version)" = "postern ${version%%-*}" ] ||
    fail "postern --version says '$(/usr/sbin/postern --version)', the package is $version"
[ -f /etc/postern/postern.conf ] && dpkg-query -W -f='${Conffiles}\n' postern |
    grep -q '^ /etc/postern/postern.conf [0-9a-f]' || fail "/etc/postern/postern.conf is not a conffile"
for page in postern postern-cgi; do
    man -w "$page" | grep -qx "/usr/share/man/man8/$page.8.gz" || fail "no man page $page(8)"
done
zgrep -qF 'max\-requests\-jitter' /usr/share/man/man8/postern.8.gz || fail "postern(8) lacks options"
getent passwd postern | awk -F: '$3 >= 1000 { exit 1 }' || fail "postern is not a system user"
systemd-analyze verify --man=no /lib/systemd/system/postern.service /lib/systemd/system/postern.socket ||
    fail "systemd-analyze verify on the units"

# --- a program of the user's own, against the installed libpostern-dev
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -DCMAKE_BUILD_TYPE=Release >"$tmp/consumer.log" 2>&1 &&
    cmake --build "$tmp/consumer" -j2 >>"$tmp/consumer.log" 2>&1 ||
    { cat "$tmp/consumer.log"; fail "building the consumer against libpostern-dev"; }
grep -qx "Postern_DIR:PATH=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/cmake/Postern" \
    "$tmp/consumer/CMakeCache.txt" || fail "the consumer did not find the packaged Postern"
"$tmp/consumer/consumer" || fail "the consumer built against the package"

# --- the service, serving hello on /run/postern/postern.sock
sock=/run/postern/postern.sock
if [ -d /run/systemd/system ]; then
    echo "systemd runs here: using postern.service as the package started it"
    systemctl is-active --quiet postern.service || fail "postern.service is not running after install"
else
    echo "no systemd here (PID 1 is $(cat /proc/1/comm)): starting postern the way postern.service does"
    install -d -m 0755 -o postern -g postern /run/postern
    setpriv --reuid=postern --regid=postern --init-groups --no-new-privs \
        /usr/sbin/postern --config /etc/postern/postern.conf 2>"$tmp/postern.log" &
    postern_pid=$!
fi
deadline=$((SECONDS + 30))
until [ -S "$sock" ]; do
    [ $SECONDS -lt $deadline ] || { cat "$tmp/postern.log" 2>/dev/null; fail "no socket $sock after 30 s"; }
    [ -z "$postern_pid" ] || kill -0 "$postern_pid" || { cat "$tmp/postern.log"; fail "postern exited"; }
    sleep 0.1
done

# --- nginx with the shipped snippet, on a free port instead of 8080
# (perl-base is essential on Debian: a free port from the kernel.)
port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')
sed "s|listen 127.0.0.1:8080;|listen 127.0.0.1:$port;|" /usr/share/postern/nginx/postern.conf >"$tmp/site.conf"
grep -q "listen 127.0.0.1:$port;" "$tmp/site.conf" || fail "the shipped nginx snippet has no 'listen 127.0.0.1:8080;'"
mkdir -p "$tmp/nginx"
nginx_conf=$tmp/nginx.conf
cat >"$nginx_conf" <<CONF
user www-data;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events {}
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    proxy_temp_path $tmp/nginx/proxy;
    scgi_temp_path $tmp/nginx/scgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    include $tmp/site.conf;
}
CONF
nginx -c "$nginx_conf" || fail "nginx would not start with the shipped snippet"
body=""
deadline=$((SECONDS + 30))
until [ "$body" = "Hello, world!" ]; do
    [ $SECONDS -lt $deadline ] || { cat "$tmp/nginx-error.log" "$tmp/postern.log" 2>/dev/null; fail "no hello page through nginx: '$body'"; }
    body=$(curl -sS --max-time 5 "http://127.0.0.1:$port/" 2>/dev/null || true)
    [ "$body" = "Hello, world!" ] || sleep 0.1
done
echo "hello through nginx and /run/postern/postern.sock: ok"
# A second request on the same gateway, below the mount.
[ "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/hello/again")" = 200 ] ||
    fail "a second request through nginx"
nginx -c "$nginx_conf" -s stop 2>/dev/null
nginx_conf=""

if [ -n "$postern_pid" ]; then
    kill -TERM "$postern_pid"
    status=0
    wait "$postern_pid" || status=$?
    postern_pid=""
    [ "$status" -eq 0 ] || { cat "$tmp/postern.log"; fail "postern exited $status on SIGTERM"; }
fi

# --- purge: nothing of the packages is left
for p in postern libpostern0 libpostern-dev; do dpkg -L "$p"; done | sort -u >"$tmp/files"
dpkg --purge postern libpostern-dev libpostern0 >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "dpkg --purge"; }
left=()
while read -r f; do
    [ -d "$f" ] && continue   # directories shared with other packages (/usr/lib, ...)
    [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done <"$tmp/files"
for d in /etc/postern /usr/lib/postern /usr/share/postern /usr/include/postern /usr/share/doc/postern \
    /usr/share/doc/libpostern0 /usr/share/doc/libpostern-dev /run/postern /var/log/postern \
    "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/cmake/Postern" \
    /etc/systemd/system/multi-user.target.wants/postern.service \
    /var/lib/systemd/deb-systemd-helper-enabled/postern.service.dsh-also; do
    [ -e "$d" ] && left+=("$d")
done
owned=$(find /etc /usr /var /run /srv -xdev -user postern -print 2>/dev/null | head -5)
[ -z "$owned" ] || left+=($owned)
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
# Debian leaves system users on purge; so does this package.
getent passwd postern >/dev/null || fail "purge removed the postern user (Debian keeps system users)"
echo "purged: no file of the packages left; user postern kept, as Debian does"
