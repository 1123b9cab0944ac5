"""Preparation: the Debian packages a selection needs, the Release build of
Postern, the protocols it serves, the libfcgi peer."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from .common import IS_ROOT, NPROC, PEERS, ROOT, log
from .processes import Proc, free_port, run_cmd, wait_listening

BASE_PACKAGES = ["apache2-utils", "wrk", "gnuplot-nox", "curl"]
BUILD_PACKAGES = ["cmake", "g++", "make", "libfcgi-dev", "libpoco-dev"]


def installed(pkg: str) -> bool:
    r = run_cmd(["dpkg-query", "-W", "-f=${Status}", pkg], 20)
    return r[0] == 0 and "install ok installed" in r[1]


def install_packages(pkgs: list[str]) -> list[str]:
    """Installs the missing ones; returns those still missing."""
    missing = [p for p in dict.fromkeys(pkgs) if not installed(p)]
    if not missing:
        return []
    log(f"installing Debian packages: {' '.join(missing)}")
    sudo = [] if IS_ROOT else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # packages that start their service on install (nginx, apache2, php-fpm,
    # tomcat10) must not take ports here: policy-rc.d stops invoke-rc.d
    policy = Path("/usr/sbin/policy-rc.d")
    made = False
    if not policy.exists():
        subprocess.run(sudo + ["sh", "-c", f"printf '#!/bin/sh\\nexit 101\\n' > {policy} && chmod 755 {policy}"],
                       check=False)
        made = True
    try:
        subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env, check=False)
        # one package at a time: one that is not to be had leaves the others
        for p in missing:
            r = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", p],
                               env=env, capture_output=True, text=True)
            if r.returncode != 0:
                log(f"apt-get install {p} failed: {r.stderr.strip().splitlines()[-1:]}")
    finally:
        if made:
            subprocess.run(sudo + ["rm", "-f", str(policy)], check=False)
    return [p for p in missing if not installed(p)]


def build_postern(ctx) -> str | None:
    """Release build into ctx.build_dir; None on success, else why not."""
    bdir = ctx.build_dir
    logpath = ctx.tmp / "build.log"
    cfg = ["cmake", "-S", ROOT, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release", "-DPOSTERN_BUILD_TESTS=OFF"]
    # always set, so that flags from an earlier run do not linger in the cache
    cfg.append(f"-DCMAKE_CXX_FLAGS={ctx.args.cxxflags}")
    log(f"building Postern (Release) in {bdir}")
    with open(logpath, "wb") as lf:
        for argv in (cfg, ["cmake", "--build", bdir, "-j", str(NPROC)]):
            r = subprocess.run([str(a) for a in argv], stdout=lf, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                text = logpath.read_text(errors="replace")
                errs = [l for l in text.splitlines() if "error" in l.lower()]
                shutil.copy(logpath, ctx.out_base.with_suffix(".build.log"))
                return (f"Release build failed ({' '.join(map(str, argv[:2]))}): "
                        f"{(errs or ['see log'])[0].strip()[:240]} — log: "
                        f"{ctx.out_base.with_suffix('.build.log').relative_to(ROOT)}")
    return None


def postern_protocols(ctx) -> tuple[set[str], str]:
    """The protocols `postern --help` lists for --listen; when the help text
    cannot be read, each protocol is tried: a start-up that fails means no."""
    r = run_cmd([ctx.postern_bin, "--help"], 20)
    text = r[1] + r[2]
    m = re.search(r"--listen PROTO=ADDRESS\s+listen for PROTO \(([^)]*)\)", text)
    if not m:
        m = re.search(r"PROTO is one of ([a-z, ]+)", text)
    if m:
        return {p.strip() for p in re.split(r",|\bor\b", m.group(1)) if p.strip()}, "`postern --help` lists"
    found = set()
    for proto in ("fastcgi", "http", "ajp", "scgi", "uwsgi"):
        port = free_port()
        p = Proc(f"probe-{proto}", [ctx.postern_bin, "--app", ctx.examples_dir / "hello.so", "--listen",
                                    f"{proto}=127.0.0.1:{port}", "--access-log", "off"], "backend", ctx.tmp)
        if wait_listening(("127.0.0.1", port), time.time() + 5, p):
            found.add(proto)
        p.stop(5)
    return found, "a start-up with each --listen protocol succeeds for"


def build_libfcgi(ctx) -> str | None:
    out = ctx.tmp / "libfcgi_hello"
    r = run_cmd(["gcc", "-O2", "-Wall", "-Wextra", "-pthread", "-o", out, PEERS / "libfcgi_hello.c", "-lfcgi"], 120)
    if r[0] != 0:
        return "gcc libfcgi_hello.c failed: " + " ".join(r[2].strip().splitlines()[-2:])
    ctx.libfcgi_bin = out
    return None


def build_ceiling(ctx) -> str | None:
    out = ctx.tmp / "fcgi_ceiling"
    r = run_cmd(["gcc", "-O2", "-Wall", "-Wextra", "-o", out, PEERS / "fcgi_ceiling.c"], 120)
    if r[0] != 0:
        return "gcc fcgi_ceiling.c failed: " + " ".join(r[2].strip().splitlines()[-2:])
    ctx.ceiling_bin = out
    return None
