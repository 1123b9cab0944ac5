"""bench/run's command line: the options, the selection, the passes."""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .build import (
    BASE_PACKAGES, BUILD_PACKAGES, build_ceiling, build_libfcgi, build_postern, install_packages, installed,
    postern_protocols)
from .common import (
    AB_ROUNDS, ALL_ROUNDS, ALL_WORKLOADS, BENCH, Ctx, DOC_SOURCE, DOWNLOAD_BYTES, NPROC,
    FORM_BODY, QUICK_AB_ROUNDS, ROOT, UPLOAD_BYTES, log)
from .plain import PLAIN_THREADS
from .processes import run_cmd
from .report import targets, write_report
from .rounds import median_pass, result, run_row
from .topologies import build_rows, select_rows

def parse_duration(s: str) -> int:
    m = re.fullmatch(r"(\d+)(s|m)?", s.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {s!r} (e.g. 10s, 2m)")
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


def main(doc: str) -> int:
    ap = argparse.ArgumentParser(prog="bench/run", description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", help="comma-separated row names or groups (limit, postern, peers, tomcat); "
                                   "'*' globs; default: all but Tomcat")
    ap.add_argument("--rounds", help=f"comma-separated from {','.join(ALL_ROUNDS)} (default: all; "
                                     "--quick: R1,R2,R2b,wrk)")
    ap.add_argument("--workloads", help=f"comma-separated from {','.join(ALL_WORKLOADS)} (default: all; "
                                        "--quick: hello)")
    ap.add_argument("--duration", type=parse_duration, help="wrk round length (default 10s; --quick 2s)")
    ap.add_argument("--scale-duration", type=parse_duration, help="wrk length per scaling point (default 5s)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run under 3 minutes: hello only, ab -n 500/100/500, wrk 2s, 1s warm-up")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the selected rows N times, interleaved (A B C A B C ...), and report for "
                         "each row and round the pass with the median req/s, the others in its note: "
                         "drift on a shared machine then falls on every row alike (default 1)")
    ap.add_argument("--tomcat", action="store_true", help="add the Tomcat 10 rows (installs tomcat10 and Java)")
    ap.add_argument("--threads", type=int, default=16, help="Postern worker threads (default 16)")
    ap.add_argument("--processes", type=int, default=None,
                    help="Postern worker processes (default: Postern's own, one per CPU)")
    ap.add_argument("--pollers", type=int, default=None,
                    help="Postern --pollers: threads waiting for requests per process (default: Postern's own)")
    ap.add_argument("--php-children", type=int, default=8, help="PHP-FPM pm.max_children (default 8)")
    ap.add_argument("--py-workers", type=int, default=2 * NPROC,
                    help=f"uWSGI processes (default 2×nproc = {2 * NPROC}); gunicorn runs 2×nproc+1")
    ap.add_argument("--build-dir", default=str(ROOT / "build-bench"), help="Release build directory")
    ap.add_argument("--cxxflags", default="", help="extra CMAKE_CXX_FLAGS for the Release build")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in --build-dir")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install anything")
    ap.add_argument("--out", default=str(BENCH / "results"), help="where the report goes")
    ap.add_argument("--keep-tmp", action="store_true", help="keep each row's temporary directory")
    ap.add_argument("--list", action="store_true", help="list the rows and exit")
    args = ap.parse_args()

    all_rows = build_rows()
    if args.list:
        for r in all_rows:
            print(f"{r.name:28} {r.kind:8} {r.label}")
        return 0

    ctx = Ctx()
    ctx.args = args
    ctx.argv = sys.argv[1:]
    ctx.started = dt.datetime.now(dt.timezone.utc)
    ctx.stamp = ctx.started.strftime("%Y%m%d-%H%M%S")
    ctx.load_start = " ".join(open("/proc/loadavg").read().split()[:3])
    ctx.rows = select_rows(all_rows, args.rows, args.tomcat)
    ctx.rounds = args.rounds.split(",") if args.rounds else (["R1", "R2", "R2b", "wrk"] if args.quick
                                                            else list(ALL_ROUNDS))
    for x in ctx.rounds:
        if x not in ALL_ROUNDS:
            sys.exit(f"bench/run: no round {x!r} (rounds: {', '.join(ALL_ROUNDS)})")
    ctx.workloads = args.workloads.split(",") if args.workloads else (["hello"] if args.quick else ALL_WORKLOADS)
    for x in ctx.workloads:
        if x not in ALL_WORKLOADS:
            sys.exit(f"bench/run: no workload {x!r} (workloads: {', '.join(ALL_WORKLOADS)})")
    ctx.ab_rounds = QUICK_AB_ROUNDS if args.quick else AB_ROUNDS
    ctx.duration = args.duration or (2 if args.quick else 10)
    ctx.scale_duration = args.scale_duration or (2 if args.quick else 5)
    ctx.warmup = 1 if args.quick else 2
    ctx.ab_timeout = 120 if args.quick else 300
    ctx.mode_line = ("quick mode: ab -n 500/100/500, " if args.quick else "") + \
        f"wrk {ctx.duration}s, {args.threads} Postern threads " \
        f"({PLAIN_THREADS} in the plain-configuration rows)" + \
        (f", median of {args.repeat} interleaved passes" if args.repeat > 1 else "")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx.out_base = out_dir / ctx.stamp
    ctx.tmp = Path(tempfile.mkdtemp(prefix="postern-bench-"))
    os.chmod(ctx.tmp, 0o755)
    ctx.build_dir = Path(args.build_dir)
    ctx.running = []
    ctx.postern_version = "not built"
    ctx.build_seconds = 0.0

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def on_signal(signum, frame):
        # unwinds through run_row's and main's finally: they stop what was started
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log(f"signal {signum}: stopping what was started")
        sys.exit(130)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        t0 = time.time()
        results: list[dict] = []
        unavailable: dict[str, str] = {}

        # packages
        pkgs = BASE_PACKAGES + [p for r in ctx.rows for p in r.packages]
        if any(r.kind == "postern" for r in ctx.rows) and not args.no_build:
            pkgs += BUILD_PACKAGES
        if any(r.name == "python-basehttp" for r in ctx.rows):
            pass  # python3 runs this script
        missing = [] if args.no_install else install_packages(pkgs)
        for r in ctx.rows:
            lack = [p for p in r.packages if p in missing or (args.no_install and not installed(p))]
            if lack:
                unavailable[r.name] = f"Debian package(s) not installed: {', '.join(lack)}"
        for tool in ("ab", "wrk"):
            if not shutil.which(tool):
                sys.exit(f"bench/run: {tool} is missing (apt-get install apache2-utils wrk)")

        # the document every row serves
        ctx.doc_path = ctx.tmp / "doc.html"
        shutil.copy(DOC_SOURCE, ctx.doc_path)
        os.chmod(ctx.doc_path, 0o644)
        ctx.doc_bytes = ctx.doc_path.read_bytes()
        ctx.upload_body = bytes((i * 7 + 3) & 0xFF for i in range(UPLOAD_BYTES))
        ctx.upload_sha = hashlib.sha256(ctx.upload_body).hexdigest()
        h = hashlib.sha256()
        piece = b"x" * (1 << 20)
        for _ in range(DOWNLOAD_BYTES >> 20):
            h.update(piece)
        ctx.download_sha = h.hexdigest()
        ctx.upload_lua = ctx.tmp / "upload.lua"
        # wrk sends the same 1 MiB body (bytes 'x'); the check above used a patterned one
        ctx.upload_lua.write_text('wrk.method = "POST"\nwrk.body = string.rep("x", %d)\n'
                                  'wrk.headers["Content-Type"] = "application/octet-stream"\n' % UPLOAD_BYTES)

        ctx.form_lua = ctx.tmp / "form.lua"
        ctx.form_lua.write_text('wrk.method = "POST"\nwrk.body = "%s"\n'
                                'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
                                % FORM_BODY.decode())

        # Postern
        if any(r.kind == "postern" for r in ctx.rows):
            why = None
            if not args.no_build:
                b0 = time.time()
                why = build_postern(ctx)
                ctx.build_seconds = time.time() - b0
            ctx.postern_bin = ctx.build_dir / "bin" / "postern"
            ctx.examples_dir = ctx.build_dir / "examples"
            if not why and not ctx.postern_bin.exists():
                why = f"no {ctx.postern_bin}"
            if not why:
                missing_so = [n for n in ("hello", "doc", "echo", "faults", "form") if not (ctx.examples_dir / f"{n}.so").exists()]
                if missing_so:
                    why = f"example modules missing in {ctx.examples_dir}: {', '.join(missing_so)}"
            protos: set[str] = set()
            if not why:
                rc, out, err = run_cmd([ctx.postern_bin, "--version"], 20)
                if rc != 0:
                    why = (f"`{ctx.postern_bin} --version` failed (exit {rc}"
                           + (f", signal {-rc}" if -64 < rc < 0 else "") + f"): {(out + err).strip()[:200]}")
                ctx.postern_version = (out.strip().splitlines() or ["?"])[0]
            if not why:
                protos, how = postern_protocols(ctx)
                if not protos:
                    why = "postern starts with no --listen protocol (fastcgi, http, ajp, scgi, uwsgi)"
            for r in ctx.rows:
                if r.kind != "postern" or r.name in unavailable:
                    continue
                if why:
                    unavailable[r.name] = why
                elif r.needs_proto and r.needs_proto not in protos:
                    unavailable[r.name] = (f"not available yet: {how} --listen "
                                           f"{', '.join(sorted(protos))}, no {r.needs_proto}")
                elif r.snippet and not (ROOT / r.snippet).exists():
                    unavailable[r.name] = f"not available yet: no {r.snippet}"
        if any("libfcgi" in r.name for r in ctx.rows):
            why = build_libfcgi(ctx)
            if why:
                for r in ctx.rows:
                    if "libfcgi" in r.name:
                        unavailable.setdefault(r.name, why)
        if any("ceiling" in r.name for r in ctx.rows):
            why = build_ceiling(ctx)
            if why:
                for r in ctx.rows:
                    if "ceiling" in r.name:
                        unavailable.setdefault(r.name, why)

        log(f"rows: {', '.join(r.name for r in ctx.rows)}; rounds {','.join(ctx.rounds)}; "
            f"workloads {','.join(ctx.workloads)}")
        passes: list[list[dict]] = []
        for n in range(max(args.repeat, 1)):
            if args.repeat > 1:
                log(f"pass {n + 1} of {args.repeat}")
            this: list[dict] = []
            for row in ctx.rows:
                if row.name in unavailable:
                    if n == 0:
                        log(f"{row.name}: {unavailable[row.name]}")
                    this.append(result(row, "-", "-", status="unavailable", note=unavailable[row.name]))
                    continue
                this.extend(run_row(ctx, row))
            passes.append(this)
        results = median_pass(passes)

        elapsed = time.time() - t0
        write_report(ctx, results, elapsed)
        if args.keep_tmp:
            log(f"kept {ctx.tmp}")
        log(f"wrote {ctx.out_base.with_suffix('.md')} (.csv, .svg, .png) in {elapsed / 60:.1f} min")
        for t in targets(results):
            log(f"target: {t[2]} {t[1]} — {t[0]}")
        return 0
    finally:
        for p in reversed(ctx.running):
            p.stop(5)
        if not args.keep_tmp:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
