"""The report: bench/results/<stamp>.md, .csv and the chart (.svg, .png)."""
from __future__ import annotations

import csv
import platform
import shutil
import socket
import subprocess
from pathlib import Path

from .common import BIG_BYTES, DEBIAN_PYTHON, NPROC, ROOT, SCALE_CONCURRENCY, SCALE_ROWS, fmt_ms, fmt_num
from .peers import php_fpm_binary
from .processes import run_cmd
from .rounds import result
from .topologies import Row

def first_line(argv, use_stderr=False) -> str:
    rc, out, err = run_cmd(argv, 20)
    text = (err if use_stderr else out) or out or err
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[0].strip() if lines else "not installed"


def pkg_version(pkg: str) -> str:
    rc, out, _ = run_cmd(["dpkg-query", "-W", "-f=${Version}", pkg], 20)
    return out.strip() if rc == 0 and out.strip() else "not installed"


def machine_info(ctx) -> list[str]:
    model = "unknown"
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                model = l.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for l in open("/proc/meminfo"):
            if l.startswith("MemTotal"):
                mem = f"{int(l.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    return [f"- CPU: {model}, nproc {NPROC}", f"- Memory: {mem}",
            f"- Kernel: {platform.release()}; load average at start {ctx.load_start}, at end {load}",
            f"- Host: {socket.gethostname()}"]


def versions(ctx) -> list[tuple[str, str]]:
    v = []
    v.append(("Postern", ctx.postern_version))
    git = run_cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], 20)[1].strip()
    dirty = run_cmd(["git", "-C", ROOT, "status", "--porcelain"], 20)[1].strip()
    v.append(("source", f"git {git or '?'}{' + uncommitted changes' if dirty else ''}"))
    v.append(("g++", first_line(["g++", "--version"])))
    v.append(("nginx", first_line(["nginx", "-v"], True).replace("nginx version: ", "")))
    v.append(("Apache", first_line(["apache2", "-v"]).replace("Server version: ", "")))
    v.append(("libfcgi", "libfcgi-dev " + pkg_version("libfcgi-dev")))
    v.append(("Poco", "libpoco-dev " + pkg_version("libpoco-dev")))
    v.append(("ab", "apache2-utils " + pkg_version("apache2-utils")))
    v.append(("wrk", "wrk " + pkg_version("wrk")))
    kinds = {r.name for r in ctx.rows}
    if "nginx-php-fpm" in kinds:
        b = php_fpm_binary()
        v.append(("PHP-FPM", first_line([b, "-v"]) if b else "not installed"))
    if kinds & {"nginx-uwsgi", "uwsgi-http"}:
        v.append(("uWSGI", "uwsgi " + pkg_version("uwsgi-core")))
    if "nginx-gunicorn" in kinds:
        v.append(("gunicorn", "gunicorn " + pkg_version("gunicorn")))
    v.append(("Python (peers)", first_line([DEBIAN_PYTHON, "--version"])))
    if any(r.kind == "tomcat" for r in ctx.rows):
        v.append(("Tomcat", "tomcat10 " + pkg_version("tomcat10")))
        v.append(("Java", first_line(["java", "-version"], True)))
    return v


def form_against_hello(results, rows) -> list[str]:
    """What the form workload costs per request against hello, row by row
    (the same wrk -c64 round of the same run)."""
    out = []
    for row in rows:
        f, h = get(results, row.name, "form", "wrk"), get(results, row.name, "hello", "wrk")
        if not f or not h or not f["rps"] or not h["rps"]:
            continue
        line = (f"- {row.label}: form {float(f['rps']):,.0f} req/s = {float(f['rps']) / float(h['rps']):.2f}× "
                f"hello's {float(h['rps']):,.0f}; per request {1e6 / float(f['rps']):.1f} µs against "
                f"{1e6 / float(h['rps']):.1f} µs of wall time at -c64")
        if f["backend_cpu_us_per_req"] and h["backend_cpu_us_per_req"]:
            fb, hb = float(f["backend_cpu_us_per_req"]), float(h["backend_cpu_us_per_req"])
            line += f"; gateway CPU {fb:.1f} µs/req against {hb:.1f} (+{fb - hb:.1f} µs)"
        if f["cpu_us_per_req"] and h["cpu_us_per_req"]:
            line += (f"; whole row CPU {float(f['cpu_us_per_req']):.1f} against "
                     f"{float(h['cpu_us_per_req']):.1f} µs/req")
        out.append(line + ".")
    return out


def get(results, row, workload, rnd):
    for r in results:
        if r["row"] == row and r["workload"] == workload and r["round"] == rnd and r["status"] == "ok":
            return r
    return None


def targets(results: list[dict]) -> list[tuple[str, str, str, str]]:
    """(target, measured, verdict, detail) for those whose rows ran."""
    T = []

    def w(row):
        return get(results, row, "hello", "wrk")

    def ratio_line(name, mine, theirs, need, key="rps", higher=True, theirs_name="", info=False):
        a, b = float(mine[key]), float(theirs[key])
        if b <= 0:
            return
        x = a / b
        ok = x >= need if higher else x <= need
        detail = f"{a:,.1f} vs {b:,.1f}" + (f" ({theirs_name or theirs['row']})")
        if not ok and not info:
            if higher:
                detail += f"; short by {(need - x) / need * 100:.0f}% of the target ({need:g}×)"
            else:
                detail += f"; over by {(x - need) / need * 100:.0f}% of the limit ({need:g}×)"
        bad = int(theirs["failed"] or 0) + int(theirs["non2xx"] or 0)
        if bad and key == "rps":
            detail += f"; note: {theirs['row']} had {wrk_errors_cell(theirs)} in this round, counted in its req/s"
        T.append((name, f"{x:.2f}×", "info" if info else "PASS" if ok else "FAIL", detail))

    pf = w("nginx-fastcgi-postern")
    libs = [(n, w(n)) for n in ("nginx-fastcgi-libfcgi8", "nginx-fastcgi-libfcgi128") if w(n)]
    # the better thread count: the faster of those that served every request
    # of every hello round (8 threads stall behind kept connections: their
    # req/s comes from the connections that were not left waiting), else the
    # faster
    def served_all(row):
        # the 2009 rounds and the -c64 round (not the scaling sweep, where
        # every row may time out at -c1024): no failure, no non-2xx, no wrk
        # error of any kind, timeouts included
        for r in results:
            if r["row"] == row and r["workload"] == "hello" and not r["round"].startswith("scale-"):
                errs = sum(int(r[k] or 0) for k in ("failed", "non2xx", "err_connect", "err_read",
                                                    "err_write", "err_timeout"))
                if r["status"] in ("error", "wrong") or errs:
                    return False
        return True
    clean = [t for t in libs if served_all(t[0])]
    best = max(clean or libs, key=lambda t: float(t[1]["rps"] or 0)) if libs else None
    if pf and best:
        ratio_line("nginx→FastCGI→Postern ≥ 1.0× nginx→FastCGI→libfcgi C (better thread count), req/s",
                   pf, best[1], 1.0, theirs_name=best[0])
        if pf["p99_ms"] != "" and best[1]["p99_ms"] != "":
            ratio_line("… p99 ≤ 1.5× libfcgi C's p99", pf, best[1], 1.5, key="p99_ms", higher=False,
                       theirs_name=best[0])
        if pf["backend_cpu_us_per_req"] and best[1]["backend_cpu_us_per_req"]:
            ratio_line("… gateway CPU µs/request ≤ 1.1× libfcgi C's", pf, best[1], 1.1,
                       key="backend_cpu_us_per_req", higher=False, theirs_name=best[0])
        if pf["cpu_us_per_req"] and best[1]["cpu_us_per_req"]:
            ratio_line("… CPU µs/request of the whole row, nginx included (for information)", pf, best[1], 1.1,
                       key="cpu_us_per_req", higher=False, theirs_name=best[0], info=True)
    # issue 17 item 1: the 7 KB page and the big responses, against the same
    # libfcgi C row as hello (else the 128-thread one), req/s and p99 (wrk -c64)
    for wl in ("doc", "big100k", "big1m"):
        mine = get(results, "nginx-fastcgi-postern", wl, "wrk")
        lib = next((n for n in ([best[0]] if best else []) + ["nginx-fastcgi-libfcgi128", "nginx-fastcgi-libfcgi8"]
                    if get(results, n, wl, "wrk")), None)
        if not mine or not lib:
            continue
        theirs = get(results, lib, wl, "wrk")
        ratio_line(f"nginx→FastCGI→Postern ≥ 1.0× libfcgi C, `{wl}`, req/s", mine, theirs, 1.0, theirs_name=lib)
        if mine["p99_ms"] != "" and theirs["p99_ms"] != "":
            ratio_line(f"… `{wl}` p99 ≤ libfcgi C's p99", mine, theirs, 1.0, key="p99_ms", higher=False,
                       theirs_name=lib)
    if pf:
        t = int(pf["err_timeout"] or 0)
        T.append(("… no wrk timeouts (nginx→FastCGI→Postern)", str(t), "PASS" if t == 0 else "FAIL",
                  f"{t} timeouts"))
    if pf and w("nginx-fastcgi-ceiling"):
        # issue 17: how close Postern comes to what the FastCGI path itself
        # allows (nginx in front of a responder that only copies pre-built
        # records), with the same nginx snippet
        ratio_line("nginx→FastCGI→Postern ≥ 0.9× nginx→FastCGI→ceiling (pre-built records), req/s", pf,
                   w("nginx-fastcgi-ceiling"), 0.9, theirs_name="nginx-fastcgi-ceiling")
    for peer, need, name in (("nginx-uwsgi", 2.5, "uWSGI"), ("nginx-php-fpm", 3.5, "PHP-FPM")):
        if pf and w(peer):
            ratio_line(f"nginx→FastCGI→Postern ≥ {need}× nginx→{name}", pf, w(peer), need, theirs_name=peer)
    if w("apache-jk-postern") and w("apache-jk-tomcat"):
        ratio_line("Apache→mod_jk→Postern ≥ 1.0× Apache→mod_jk→Tomcat", w("apache-jk-postern"),
                   w("apache-jk-tomcat"), 1.0)
    if w("apache-ajp-postern") and w("apache-ajp-tomcat"):
        ratio_line("Apache→mod_proxy_ajp→Postern vs Apache→mod_proxy_ajp→Tomcat (for information)",
                   w("apache-ajp-postern"), w("apache-ajp-tomcat"), 1.0, info=True)
    if w("apache-fcgi-postern") and w("apache-fcgi-libfcgi128"):
        ratio_line("Apache→mod_proxy_fcgi→Postern ≥ 1.0× Apache→mod_proxy_fcgi→libfcgi C", w("apache-fcgi-postern"),
                   w("apache-fcgi-libfcgi128"), 1.0)
    # issue 17 items 1 and 2: the plain configurations (bench/postern_bench/plain.py), each Postern
    # row against libfcgi C behind the same front-end text; SCGI and uwsgi (a connection per
    # request, like FastCGI without keep_conn) against libfcgi C behind nginx without keep_conn
    plain = [("nginx-fastcgi-ka8", "nginx keepalive 8 → FastCGI"),
             ("nginx-fastcgi-nokeep", "nginx without keep_conn → FastCGI"),
             ("apache-fcgi-stock", "Apache stock mod_proxy_fcgi")]
    for stem, label in plain:
        for wl in ("hello", "doc", "big100k", "big1m"):
            mine = get(results, f"{stem}-postern", wl, "wrk")
            theirs = get(results, f"{stem}-libfcgi128", wl, "wrk")
            if not mine or not theirs:
                continue
            ratio_line(f"{label} → Postern ≥ 1.0× libfcgi C, `{wl}`, req/s", mine, theirs, 1.0)
            if mine["p99_ms"] != "" and theirs["p99_ms"] != "":
                ratio_line(f"… `{wl}` p99 ≤ libfcgi C's p99", mine, theirs, 1.0, key="p99_ms", higher=False)
    for proto in ("scgi", "uwsgi"):
        mine, theirs = w(f"nginx-{proto}-postern"), w("nginx-fastcgi-nokeep-libfcgi128")
        if mine and theirs:
            ratio_line(f"nginx→{proto.upper() if proto == 'scgi' else proto}→Postern (a connection per request) "
                       f"≥ 1.0× nginx without keep_conn → libfcgi C", mine, theirs, 1.0)
    # issue 17 item 3: flat under load, with the snippet's pool and with nginx's usual `keepalive 8`
    def sc(row, c):
        return get(results, row, "hello", f"scale-c{c}")
    for mine_row, lib_row in (("nginx-fastcgi-postern", "nginx-fastcgi-libfcgi128"),
                              ("nginx-fastcgi-ka8-postern", "nginx-fastcgi-ka8-libfcgi128")):
        base = sc(mine_row, 64)
        for c in (256, 1024):
            mine = sc(mine_row, c)
            if not mine:
                continue
            if base:
                ratio_line(f"{mine_row} at -c{c} ≥ 0.9× its own req/s at -c64", mine, base, 0.9,
                           theirs_name=f"{mine_row} -c64")
            if sc(lib_row, c):
                ratio_line(f"{mine_row} at -c{c} ≥ 1.0× libfcgi C at -c{c}", mine, sc(lib_row, c), 1.0)
            if sc("nginx-static", c) and mine["p99_ms"] != "" and sc("nginx-static", c)["p99_ms"] != "":
                ratio_line(f"… -c{c} p99 ≤ 2× nginx static's p99", mine, sc("nginx-static", c), 2.0,
                           key="p99_ms", higher=False)
            errs = sum(int(mine[k] or 0) for k in ("failed", "non2xx", "err_connect", "err_read",
                                                    "err_write", "err_timeout"))
            T.append((f"… -c{c} errors ({mine_row})", str(errs), "PASS" if errs == 0 else "FAIL",
                      f"{errs} errors"))
    if w("postern-http") and w("tomcat-direct"):
        ratio_line("Postern direct HTTP ≥ 1.0× Tomcat direct", w("postern-http"), w("tomcat-direct"), 1.0)
    # zero failures in every round of every Postern row
    prow = [r for r in results if r["kind"] == "postern" and r["round"] not in ("idle", "idle-after", "stop")]
    if prow:
        bad = []
        for r in prow:
            if r["status"] in ("wrong", "error"):
                bad.append(f"{r['row']} {r['workload']} {r['round']}: {r['status']}")
                continue
            f = int(r["failed"] or 0) + int(r["non2xx"] or 0)
            if f:
                bad.append(f"{r['row']} {r['workload']} {r['round']}: {f}")
        T.append(("0 failed requests in every round of every Postern row (ab failures, non-2xx, wrk errors)",
                  str(len(bad)) + " rounds with failures", "PASS" if not bad else "FAIL",
                  "; ".join(bad[:8]) + (" …" if len(bad) > 8 else "")))
    idle = [r for r in results if r["kind"] == "postern" and r["round"] in ("idle", "idle-after")
            and r["backend_rss_process_mib"] != ""]
    if idle:
        # per process: the supervisor and each worker process of the gateway
        worst = max(idle, key=lambda r: float(r["backend_rss_process_mib"]))
        x = float(worst["backend_rss_process_mib"])
        T.append(("RSS of an idle worker process ≤ 20 MiB (worst, before or after load)", f"{x:.1f} MiB",
                  "PASS" if x <= 20 else "FAIL", f"{worst['row']} ({worst['round']})"
                  + ("" if x <= 20 else f"; over by {x - 20:.1f} MiB")))
    heavy = [r for r in results if r["kind"] == "postern" and r["workload"] in ("upload", "download")
             and r["status"] == "ok" and r["backend_rss_peak_mib"] != ""]
    if heavy:
        worst = max(heavy, key=lambda r: float(r["backend_rss_peak_mib"]))
        x = float(worst["backend_rss_peak_mib"])
        T.append(("Gateway RSS < 64 MiB during 100 MiB downloads and 1 MiB uploads at -c64", f"{x:.1f} MiB",
                  "PASS" if x < 64 else "FAIL", f"{worst['row']} {worst['round']}"
                  + ("" if x < 64 else f"; over by {x - 64:.1f} MiB")))
    return T


def md_table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    out = ["| " + " | ".join(header) + " |"]
    out.append("| " + " | ".join(("---:" if (align and align[i] == "r") else "---") for i in range(len(header)))
               + " |")
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return out


def failures_cell(r: dict) -> str:
    parts = []
    if r["failed"] not in ("", 0, "0"):
        parts.append(f"{r['failed']} failed")
    if r["non2xx"] not in ("", 0, "0"):
        parts.append(f"{r['non2xx']} non-2xx")
    return ", ".join(parts) or "0"


def wrk_errors_cell(r: dict) -> str:
    kinds = [(k, r[f"err_{k}"]) for k in ("connect", "read", "write", "timeout")]
    parts = [f"{k} {v}" for k, v in kinds if v not in ("", 0, "0")]
    if r["non2xx"] not in ("", 0, "0"):
        parts.append(f"non-2xx {r['non2xx']}")
    return ", ".join(parts) or "0"


def write_report(ctx, results: list[dict], elapsed: float) -> None:
    base = ctx.out_base
    # csv
    fields = list(result(Row("", "", "", None, {}), "", "").keys())
    with open(base.with_suffix(".csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=["timestamp"] + fields)
        wr.writeheader()
        for r in results:
            wr.writerow({"timestamp": ctx.stamp, **r})
    chart_note = draw_chart(ctx, results)

    L = [f"# Postern bench — {ctx.started.strftime('%Y-%m-%d %H:%M UTC')}", ""]
    L.append(f"`bench/run {' '.join(ctx.argv)}` — {ctx.mode_line}; took {elapsed / 60:.1f} min"
             + (f" ({ctx.build_seconds / 60:.1f} of them building)" if ctx.build_seconds >= 30 else "") + ". "
             "Rows ran one after another on 127.0.0.1; each was checked for the exact expected bytes, "
             "then warmed up. Access logs off everywhere. Compare ratios within one run, never absolutes "
             "across machines.")
    L += ["", "## Machine", ""] + machine_info(ctx)
    L += ["", "## Versions", ""]
    L += md_table(["what", "version"], [[a, b] for a, b in versions(ctx)])
    L += ["", "## Targets (issue 3), from this run", ""]
    T = targets(results)
    if T:
        L += md_table(["target", "measured", "verdict", "detail"], [list(t) for t in T])
        L.append("")
        L.append("Ratios on the `hello` workload unless a target names another, `wrk -c64`. "
                 "Gateway CPU is the backend process(es) only; "
                 "the row's CPU adds the front end. Targets whose rows did not run are left out.")
    else:
        L.append("No target could be computed: the rows it compares did not run.")
    ran = [r for r in ctx.rows if any(x["row"] == r.name and x["status"] == "ok" and x["rps"] != ""
                                      for x in results)]
    for w in ("hello", "doc", "big100k", "big1m", "form"):
        ab_rows, wrk_rows = [], []
        for row in ran:
            cells = [row.label]
            have = False
            for rnd in [x for x in ctx.rounds if x in ctx.ab_rounds]:
                r = get(results, row.name, w, rnd)
                if r:
                    have = True
                    cells += [fmt_num(r["rps"]), f"{float(r['time_s']):.3f}" if r["time_s"] != "" else "–",
                              failures_cell(r)]
                else:
                    cells += ["–", "–", "–"]
            if have:
                ab_rows.append(cells)
            r = get(results, row.name, w, "wrk")
            if r:
                wrk_rows.append([row.label, fmt_num(r["rps"]), fmt_ms(r["p50_ms"]), fmt_ms(r["p99_ms"]),
                                 wrk_errors_cell(r), r["cpu_us_per_req"] or "–", r["backend_cpu_us_per_req"] or "–",
                                 r.get("tcp_opens_per_1k") or "–"])
        if ab_rows or wrk_rows:
            what = {"hello": " (14 bytes, text/plain)",
                    "doc": f" ({len(ctx.doc_bytes):,} bytes read from disk per request)",
                    "big100k": f" ({BIG_BYTES['big100k']:,} bytes of 'x': Postern's faults example /f/big, "
                               "libfcgi C the same in 64 KiB writes, each flushed; static rows a file)",
                    "big1m": f" ({BIG_BYTES['big1m']:,} bytes, as big100k)",
                    "form": " (an urlencoded POST of 20 fields, decoded by req.form() and echoed: "
                            "examples/form, POST /form/echo)"}[w]
            L += ["", f"## Workload `{w}`" + what, ""]
        if ab_rows:
            hdr = ["row"]
            for rnd in [x for x in ctx.rounds if x in ctx.ab_rounds]:
                n, c = ctx.ab_rounds[rnd]
                hdr += [f"{rnd} req/s (ab -n {n} -c {c})", f"{rnd} time s", f"{rnd} failed"]
            L += md_table(hdr, ab_rows, "l" + "rrl" * (len(hdr) // 3))
            L.append("")
        if wrk_rows:
            L += md_table([f"row", f"wrk -c64 -d{ctx.duration}s req/s", "p50 ms", "p99 ms", "errors",
                           "CPU µs/req (row)", "CPU µs/req (backend)",
                           "new backend connections per 1,000 requests"], wrk_rows, "lrrrlrrr")
        if w == "form":
            L += [""] + form_against_hello(results, ran)
    # scaling
    scale = [r for r in results if r["round"].startswith("scale-c") and r["status"] == "ok"]
    if scale:
        L += ["", f"## Scaling (`hello`, wrk -d{ctx.scale_duration}s at each concurrency)", ""]
        hdr = ["row"] + [f"c{c} req/s / p99 ms" for c in SCALE_CONCURRENCY]
        rows = []
        for name in SCALE_ROWS:
            rr = [r for r in scale if r["row"] == name]
            if not rr:
                continue
            cells = [rr[0]["label"]]
            for c in SCALE_CONCURRENCY:
                r = next((x for x in rr if x["round"] == f"scale-c{c}"), None)
                cells.append(f"{fmt_num(r['rps'])} / {fmt_ms(r['p99_ms'])}"
                             + ("" if wrk_errors_cell(r) == "0" else f" ({wrk_errors_cell(r)})") if r else "–")
            rows.append(cells)
        L += md_table(hdr, rows)
    # bulk transfer
    bulk = [r for r in results if r["workload"] in ("upload", "download") and r["round"] not in ("check",)
            and r["status"] == "ok"]
    if bulk:
        L += ["", f"## Bulk transfer (wrk -d{ctx.duration}s)", ""]
        rows = []
        for r in bulk:
            what = "upload 1 MiB POST to echo, -c64" if r["workload"] == "upload" else "download 100 MiB, -c4"
            rows.append([r["label"], what, r["mb_per_s"] or "–", fmt_num(r["rps"], 1), wrk_errors_cell(r),
                         r["backend_rss_peak_mib"] or "–"])
        L += md_table(["row", "transfer", "MB/s", "req/s", "errors", "backend RSS peak MiB"], rows, "llrrlr")
    # memory
    mem = [r for r in results if r["round"] in ("idle", "idle-after")]
    if mem:
        L += ["", "## Backend memory (RSS, MiB, summed over the backend's processes)", ""]
        rows = []
        for row in ctx.rows:
            a = next((r for r in mem if r["row"] == row.name and r["round"] == "idle"), None)
            b = next((r for r in mem if r["row"] == row.name and r["round"] == "idle-after"), None)
            if a or b:
                peak = [float(r["backend_rss_peak_mib"]) for r in results
                        if r["row"] == row.name and r["status"] == "ok" and r["round"] not in ("idle", "idle-after")
                        and r["backend_rss_peak_mib"] != ""]
                rows.append([row.label, a["backend_rss_peak_mib"] if a else "–",
                             f"{max(peak):.1f}" if peak else "–", b["backend_rss_peak_mib"] if b else "–",
                             (b or a)["backend_rss_process_mib"] or "–"])
        L += md_table(["row", "idle after start", "peak under load", "idle after the rounds",
                       "largest process, idle"], rows, "lrrrr")
    # what did not run
    problems = [r for r in results if r["status"] in ("wrong", "error", "unavailable", "note")]
    if problems:
        L += ["", "## Rows and rounds that did not run, or ran with a problem", ""]
        L += md_table(["row", "workload / round", "status", "why"],
                      [[r["label"], "—" if r["workload"] == "-" else f"{r['workload']} {r['round']}", r["status"],
                        r["note"].replace("|", "\\|")] for r in problems])
    L += ["", "## Chart", ""]
    if chart_note:
        L.append(chart_note)
    else:
        L.append(f"![requests per second]({base.name}.svg)")
        L.append("")
        L.append(f"`{base.name}.svg` / `.png`: one panel per workload and round, one bar per row sorted by "
                 "requests/s, Postern's rows in one colour and each peer family in its own" + ("; below, wrk throughput and p99 against concurrency." if any(
                     r["round"].startswith("scale-c") for r in results) else "."))
    L += ["", "## How the numbers are taken", "",
          "- R1/R2/R2b: `ab -r -s 10 -n N -c C` (HTTP/1.0, no keep-alive); \"time\" is ab's \"Time taken for "
          "tests\" (the 2009 trial time); failed = ab's failed requests (connect, receive, length, exceptions); "
          "non-2xx counted apart.",
          f"- wrk: `wrk -t{NPROC} -c64 -d{ctx.duration}s --timeout 2s --latency` with keep-alive; errors by kind "
          "(connect, read, write, timeout) and non-2xx.",
          "- CPU µs/req: user+sys ticks (/proc/PID/stat, reaped children included) of the row's processes, "
          "after minus before the round, over the requests completed; \"backend\" counts the gateway or "
          "application server alone, \"row\" adds the front end. Load generators run on the same cores.",
          "- Every row gets the same document, read from the file system per request; nginx and Apache "
          "keep-alive limits raised (keepalive_requests 100000, MaxKeepAliveRequests 0) so keep-alive "
          "rounds are not turned into reconnects.",
          "- Apache runs mpm_event as 2 children of 100 threads (Debian's 25-thread children close the "
          "kept-alive connections of a child whose workers are all busy: wrk read errors of Apache's own). "
          "The FastCGI peers behind nginx use the shipped `nginx-conf/postern-fastcgi.conf` (kept "
          "connections), except PHP-FPM, which gets the usual connection per request (kept connections "
          "stall its pm static children as they stall libfcgi's 8 threads).",
          f"- Postern: `--threads {ctx.args.threads} --access-log off`, mounts /hello, /doc, /echo, /f "
          "(faults); libfcgi C: `bench/peers/libfcgi_hello.c`, no accept mutex; ceiling: "
          "`bench/peers/fcgi_ceiling.c` (one epoll thread, pre-built records) behind the shipped snippet; PHP-FPM "
          f"pm static, {ctx.args.php_children} children; uWSGI {ctx.args.py_workers} processes; gunicorn "
          f"{2 * NPROC + 1} sync workers."]
    base.with_suffix(".md").write_text("\n".join(L) + "\n")


# the chart's colours: Postern's rows in one, each peer family in its own
FAMILIES = [  # (family, colour, rows it holds: names, or a kind)
    ("Postern", "#1f5fbf", None),
    ("ceiling (pre-built records)", "#222222", ("nginx-fastcgi-ceiling",)),
    ("libfcgi C", "#f28e2b", ("nginx-fastcgi-libfcgi*", "apache-fcgi-libfcgi*")),
    ("uWSGI", "#59a14f", ("nginx-uwsgi", "uwsgi-http")),
    ("PHP-FPM", "#8a5fb8", ("nginx-php-fpm",)),
    ("gunicorn", "#9c6b4e", ("nginx-gunicorn",)),
    ("Python BaseHTTP", "#e377c2", ("python-basehttp",)),
    ("Tomcat", "#d4a017", ("tomcat-direct", "apache-jk-tomcat", "apache-ajp-tomcat")),
    ("static (the front end alone)", "#a0a0a0", ("nginx-static", "apache-static")),
]
CHART_WORKLOADS = ("hello", "doc", "form", "big100k", "big1m")
CHART_ROUNDS = ("R1", "R2", "R2b", "wrk")


def family(row: str, kind: str) -> tuple[str, str]:
    import fnmatch
    if kind == "postern":
        return FAMILIES[0][0], FAMILIES[0][1]
    for name, colour, rows in FAMILIES[1:]:
        if any(fnmatch.fnmatch(row, p) for p in rows):
            return name, colour
    return "other", "#17becf"


def draw_chart(ctx, results) -> str | None:
    title = f"Postern bench {ctx.started.strftime('%Y-%m-%d %H:%M UTC')}, {NPROC} cores ({ctx.mode_line})"
    order = [row.name for row in ctx.rows]
    return render_chart(results, ctx.out_base, title, order)


def render_chart(results: list[dict], base, title: str, order: list[str] | None = None) -> str | None:
    """base.svg and base.png from the results (rows of the csv): one panel
    per workload and round, horizontal bars sorted by req/s, coloured by
    family, the figure on each bar; below, the scaling plots (log p99).
    None, or why there is no chart."""
    if not shutil.which("gnuplot"):
        return "gnuplot is not installed: no chart."
    panels = []
    for w in CHART_WORKLOADS:
        for rnd in CHART_ROUNDS:
            bars = [r for r in results if r["workload"] == w and r["round"] == rnd and r["status"] == "ok"
                    and r["rps"] not in ("", None)]
            if bars:
                # one bar per row (a csv may hold a row twice: keep the first)
                seen, uniq = set(), []
                for r in bars:
                    if r["row"] not in seen:
                        seen.add(r["row"])
                        uniq.append(r)
                panels.append((w, rnd, sorted(uniq, key=lambda r: float(r["rps"]))))
    scale = [r for r in results if r["round"].startswith("scale-c") and r["status"] == "ok" and r["rps"] != ""]
    if not panels and not scale:
        return "Nothing to chart: no round ran."
    base = Path(base)
    data = base.parent / f".{base.name}.bars.dat"
    used = []
    with open(data, "w") as f:
        for _, _, bars in panels:
            for r in bars:
                fam, colour = family(r["row"], r["kind"])
                if fam not in used:
                    used.append(fam)
                errs = sum(int(r[k] or 0) for k in ("failed", "non2xx", "err_connect", "err_read", "err_write",
                                                     "err_timeout"))
                text = f"{float(r['rps']):,.0f}" + (f"  ({errs:,} errors)" if errs else "")
                f.write(f'"{r["label"]}"\t{float(r["rps"]):.1f}\t{int(colour[1:], 16)}\t"{text}"\n')
            f.write("\n\n")
    scale_rows = list(dict.fromkeys(r["row"] for r in scale))
    for r in scale:
        fam = family(r["row"], r["kind"])[0]
        if fam not in used:
            used.append(fam)
    if order:
        scale_rows.sort(key=lambda n: order.index(n) if n in order else len(order))
    sdata = base.parent / f".{base.name}.scale.dat"
    if scale_rows:
        with open(sdata, "w") as f:
            for n in scale_rows:
                for c in SCALE_CONCURRENCY:
                    r = next((x for x in scale if x["row"] == n and x["round"] == f"scale-c{c}"), None)
                    if r:
                        f.write(f"{c}\t{float(r['rps']):.1f}\t{float(r['p99_ms'] or 'nan'):.3f}\n")
                f.write("\n\n")
    # layout, in pixels: two columns of panels, each as tall as its bars
    width, cols = 1800, (2 if len(panels) > 1 else 1)
    head, bar_px, panel_pad = 70, 17, 70
    grid = [panels[i:i + cols] for i in range(0, len(panels), cols)]
    heights = [max(200, panel_pad + bar_px * max(len(p[2]) for p in line)) for line in grid]
    scale_h = 520 if scale_rows else 0
    height = head + sum(heights) + scale_h
    fy = lambda px: 1 - px / height  # screen y of a pixel offset from the top
    S = ["set datafile separator '\\t'", "unset key", "set grid xtics", "set style fill solid 0.9 noborder",
         "set multiplot",
         f"set label 1 '{title}' at screen 0.5, screen {fy(22):.5f} center font ',13' noenhanced"]
    # the legend: one swatch per family present
    rank = [n for n, _, _ in FAMILIES] + ["other"]
    used.sort(key=rank.index)
    x = 0.02
    for k, fam in enumerate(used):
        colour = next(c for n, c, _ in FAMILIES if n == fam) if fam != "other" else "#17becf"
        S.append(f"set label {k + 2} '■ {fam}' at screen {x:.4f}, screen {fy(50):.5f} "
                 f"textcolor rgb '{colour}' font ',11' noenhanced")
        x += 0.025 + 0.0042 * len(fam)
    S.append("set ytics scale 0 font ',9' noenhanced")
    S.append("set xtics font ',8'")
    S.append("set format x \"%'.0f\"")
    longest = max((len(r["label"]) for _, _, bars in panels for r in bars), default=10)
    S.append(f"set lmargin {int(longest * 0.85) + 3}")
    S.append("set rmargin 3")
    top = head
    idx = 0
    for line, h in zip(grid, heights):
        for c, (w, rnd, bars) in enumerate(line):
            what = {"R1": "ab -c20, no keep-alive", "R2": "ab -c1, no keep-alive", "R2b": "ab -c1 -n4000",
                    "wrk": "wrk -c64, keep-alive"}[rnd]
            peak = max(float(r["rps"]) for r in bars)
            S += [f"set origin {c / cols:.4f}, {fy(top + h):.5f}", f"set size {1 / cols:.4f}, {h / height:.5f}",
                  f"set title '{w} — {rnd} ({what}), requests/s' noenhanced font ',11'",
                  f"set xrange [0:{peak * 1.22:.0f}]", f"set yrange [-0.6:{len(bars) - 0.4}]",
                  f"plot '{data}' index {idx} using (0):0:(0):2:($0-0.38):($0+0.38):3:ytic(1) "
                  "with boxxyerror lc rgb variable, "
                  f"'' index {idx} using 2:0:4 with labels left offset 0.4,0 font ',8'"]
            idx += 1
        top += h
    if panels:
        S.append("unset label")  # drawn with the first panel
    if scale_rows:
        titles = [next(r["label"] for r in scale if r["row"] == n) for n in scale_rows]
        styles = []
        for i, n in enumerate(scale_rows):
            kind = next(r["kind"] for r in scale if r["row"] == n)
            styles.append(f"lc rgb '{family(n, kind)[1]}' dt {1 + i % 4} pt {5 + 2 * (i % 4)} lw 2")
        plots_rps = ", ".join(f"'{sdata}' index {i} using 1:2 with linespoints {st} title '{t}'"
                              for i, (t, st) in enumerate(zip(titles, styles)))
        plots_p99 = ", ".join(f"'{sdata}' index {i} using 1:3 with linespoints {st} title '{t}'"
                              for i, (t, st) in enumerate(zip(titles, styles)))
        S += ["unset ytics", "set ytics font ',9'", "set lmargin 10", "set format x '%g'", "set grid ytics",
              "set logscale x 2", "set xrange [0.8:1300]", "set yrange [0:*]", "set xtics (1, 8, 64, 256, 1024)",
              "set xlabel 'wrk connections (hello)'", "set key below left Left reverse noenhanced font ',9'",
              "set title 'throughput against concurrency, requests/s' noenhanced",
              f"set origin 0, 0", f"set size 0.5, {scale_h / height:.5f}", f"plot {plots_rps}", "unset label",
              "set logscale y", "set yrange [*:*]", "set title 'p99 latency against concurrency, ms (log)' noenhanced",
              f"set origin 0.5, 0", f"set size 0.5, {scale_h / height:.5f}", f"plot {plots_p99}"]
    S.append("unset multiplot")
    body = "\n".join(S) + "\n"
    note = None
    for term, ext in ((f"svg size {width},{height} dynamic font 'sans,11'", ".svg"),
                      (f"pngcairo size {width},{height} font 'sans,10'", ".png")):
        script = f"set terminal {term} noenhanced\nset output '{base.with_suffix(ext)}'\n" + body
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        if r.returncode != 0:
            note = f"gnuplot failed for {ext}: {r.stderr.strip()[:300]}"
    for p in (data, sdata):
        try:
            p.unlink()
        except OSError:
            pass
    return note
