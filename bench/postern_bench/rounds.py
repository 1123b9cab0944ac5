"""Running a row: checking the exact bytes it answers, the ab and wrk
rounds, their parsing, and the median of interleaved passes."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .common import (
    BIG_BYTES,
    CLK_TCK, DOWNLOAD_BYTES, FORM_BODY, FORM_ECHO, HELLO, NPROC, NotAvailable, SCALE_CONCURRENCY,
    SCALE_ROWS, SetupError, UPLOAD_BYTES, fmt_ms, fmt_num, log)
from .processes import Proc, RssSampler, largest_rss, run_cmd, sample, sample_roles
from .topologies import Row

def fetch(port: int, path: str, method: str = "GET", body: bytes | None = None,
          timeout: float = 30.0, sink=None,
          content_type: str = "application/octet-stream") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = content_type
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        if sink is None:
            return resp.status, resp.read()
        while True:
            piece = resp.read(1 << 20)
            if not piece:
                break
            sink(piece)
        return resp.status, b""
    finally:
        conn.close()


def first_difference(got: bytes, want: bytes) -> str:
    n = min(len(got), len(want))
    for i in range(n):
        if got[i] != want[i]:
            return f"first difference at byte {i}"
    return f"{len(got)} bytes instead of {len(want)}"


def check_workload(port: int, path: str, workload: str, ctx, timeout: float = 30.0) -> str | None:
    """None when the row answers exactly what it should, else why not."""
    try:
        if workload in ("hello", "doc") or workload in BIG_BYTES:
            want = HELLO if workload == "hello" else ctx.doc_bytes if workload == "doc" else b"x" * BIG_BYTES[workload]
            for _ in range(2):
                status, got = fetch(port, path, timeout=timeout)
                if status != 200:
                    return f"status {status}, body {got[:80]!r}"
                if got != want:
                    return f"wrong body: {first_difference(got, want)} ({got[:60]!r})"
            return None
        if workload == "form":
            status, got = fetch(port, path, "POST", FORM_BODY, timeout=timeout,
                                content_type="application/x-www-form-urlencoded")
            if status != 200:
                return f"status {status}, body {got[:80]!r}"
            if got != FORM_ECHO:
                return f"wrong echo: {first_difference(got, FORM_ECHO)} ({got[:60]!r})"
            return None
        if workload == "upload":
            status, got = fetch(port, path, "POST", ctx.upload_body)
            if status != 200:
                return f"status {status}, body {got[:80]!r}"
            try:
                j = json.loads(got)
            except ValueError:
                return f"not JSON: {got[:80]!r}"
            if j.get("body_length") != UPLOAD_BYTES or j.get("body_sha256") != ctx.upload_sha:
                return (f"echo saw body_length {j.get('body_length')} sha256 "
                        f"{str(j.get('body_sha256'))[:12]}..., sent {UPLOAD_BYTES} bytes")
            return None
        if workload == "download":
            h = hashlib.sha256()
            count = [0]

            def sink(piece):
                h.update(piece)
                count[0] += len(piece)
            status, _ = fetch(port, path, sink=sink, timeout=120)
            if status != 200:
                return f"status {status}"
            if count[0] != DOWNLOAD_BYTES or h.hexdigest() != ctx.download_sha:
                return f"{count[0]} bytes (sha256 {h.hexdigest()[:12]}...), want {DOWNLOAD_BYTES} 'x' bytes"
            return None
    except (OSError, http.client.HTTPException) as e:
        return f"NO ANSWER: {type(e).__name__}: {e}"
    return f"unknown workload {workload}"


# --------------------------------------------------------------------------
# load generators
# --------------------------------------------------------------------------

def parse_ab(out: str) -> dict:
    r = {}

    def grab(pat, conv=float):
        m = re.search(pat, out, re.M)
        return conv(m.group(1)) if m else None
    r["complete"] = grab(r"^Complete requests:\s+(\d+)", int)
    r["failed"] = grab(r"^Failed requests:\s+(\d+)", int)
    r["non2xx"] = grab(r"^Non-2xx responses:\s+(\d+)", int) or 0
    r["rps"] = grab(r"^Requests per second:\s+([\d.]+)")
    r["time_s"] = grab(r"^Time taken for tests:\s+([\d.]+)")
    r["p50_ms"] = grab(r"^\s+50%\s+(\d+)")
    r["p99_ms"] = grab(r"^\s+99%\s+(\d+)")
    m = re.search(r"^Failed requests:.*\n\s+\((.*)\)", out, re.M)
    r["fail_kinds"] = m.group(1) if m else ""
    return r


def to_ms(v: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    if not m:
        return float("nan")
    x, unit = float(m.group(1)), m.group(2)
    return {"us": x / 1000, "ms": x, "s": x * 1000, "m": x * 60000}[unit]


def to_bytes(v: str) -> float:
    m = re.match(r"([\d.]+)([KMGT]?B)$", v)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}[m.group(2)]


def parse_wrk(out: str) -> dict:
    r = {}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", out, re.M)
    if m:
        r["complete"] = int(m.group(1))
        r["time_s"] = to_ms(m.group(2)) / 1000
        r["bytes_read"] = to_bytes(m.group(3))
    m = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    r["rps"] = float(m.group(1)) if m else None
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+\w+)", out, re.M)
        r[key] = to_ms(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["err_connect"], r["err_read"], r["err_write"], r["err_timeout"] = (
        (int(m.group(i)) for i in range(1, 5)) if m else (0, 0, 0, 0))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    r["failed"] = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    return r


def result(row: Row, workload: str, rnd: str, **kw) -> dict:
    r = {"row": row.name, "label": row.label, "kind": row.kind, "workload": workload, "round": rnd,
         "status": "ok", "concurrency": "", "requests": "", "rps": "", "time_s": "", "complete": "",
         "failed": "", "non2xx": "", "p50_ms": "", "p99_ms": "", "err_connect": "", "err_read": "",
         "err_write": "", "err_timeout": "", "cpu_us_per_req": "", "backend_cpu_us_per_req": "",
         "mb_per_s": "", "backend_rss_peak_mib": "", "backend_rss_process_mib": "", "tcp_opens_per_1k": "",
         "note": ""}
    r.update(kw)
    return r


def measure(procs: list[Proc], fn):
    """Runs fn() between two CPU samples; returns (fn's value, cpu all, cpu backend, rss peak)."""
    t0_all, t0_be, pids = sample_roles(procs)
    sampler = RssSampler(pids)
    sampler.start()
    value = fn()
    peak = sampler.finish()
    t1_all, t1_be, _ = sample_roles(procs)
    if not any(p.role == "backend" for p in procs):
        return value, (t1_all - t0_all) * 1e6 / CLK_TCK, None, None
    return value, (t1_all - t0_all) * 1e6 / CLK_TCK, (t1_be - t0_be) * 1e6 / CLK_TCK, peak


def per_req(us: float | None, n) -> str:
    return f"{us / n:.1f}" if n and us is not None else ""


def mib(b: int | None) -> str:
    return f"{b / 2**20:.1f}" if b is not None else ""


def run_ab_round(ctx, row, procs, port, path, workload, rnd, n, c) -> dict:
    url = f"http://127.0.0.1:{port}{path}"
    (rc, out, err), cpu_all, cpu_be, peak = measure(
        procs, lambda: run_cmd(["ab", "-r", "-s", "10", "-n", n, "-c", c, url], ctx.ab_timeout))
    p = parse_ab(out)
    note = ""
    status = "ok"
    if rc != 0 or p["complete"] is None:
        status = "error"
        note = f"ab exit {rc}: {(err.strip().splitlines() or [''])[-1][:160]}"
    if p.get("fail_kinds") and p.get("failed"):
        note = (note + "; " if note else "") + p["fail_kinds"]
    done = p["complete"] or 0
    return result(row, workload, rnd, status=status, concurrency=c, requests=n, rps=p["rps"] or "",
                  time_s=p["time_s"] or "", complete=done, failed=p["failed"] if p["failed"] is not None else "",
                  non2xx=p["non2xx"], p50_ms=p["p50_ms"] if p["p50_ms"] is not None else "",
                  p99_ms=p["p99_ms"] if p["p99_ms"] is not None else "",
                  cpu_us_per_req=per_req(cpu_all, done), backend_cpu_us_per_req=per_req(cpu_be, done),
                  backend_rss_peak_mib=mib(peak), note=note)


def wrk_argv(ctx, url: str, conns: int, duration: int, script: Path | None = None, timeout: str = "2s"):
    argv = ["wrk", "-t", str(min(NPROC, conns)), "-c", str(conns), "-d", f"{duration}s", "--timeout", timeout,
            "--latency"]
    if script:
        argv += ["-s", script]
    return argv + [url]


def tcp_active_opens() -> int | None:
    """Connections this machine opened so far (/proc/net/snmp Tcp ActiveOpens): around a round,
    wrk's own plus every connection the front end opened to its backend."""
    try:
        rows = [l.split() for l in open("/proc/net/snmp") if l.startswith("Tcp:")]
        return int(rows[1][rows[0].index("ActiveOpens")])
    except (OSError, ValueError, IndexError):
        return None


def run_wrk_round(ctx, row, procs, port, path, workload, rnd, conns, duration, script=None,
                  timeout="2s", payload: int = 0) -> dict:
    url = f"http://127.0.0.1:{port}{path}"
    opens0 = tcp_active_opens()
    (rc, out, err), cpu_all, cpu_be, peak = measure(
        procs, lambda: run_cmd(wrk_argv(ctx, url, conns, duration, script, timeout), duration + 60))
    opens1 = tcp_active_opens()
    p = parse_wrk(out)
    status, note = "ok", ""
    if rc != 0 or p.get("complete") is None:
        status = "error"
        note = f"wrk exit {rc}: {(err.strip().splitlines() or [''])[-1][:160]}"
    done = p.get("complete") or 0
    mbps = ""
    if workload == "upload" and p.get("time_s"):
        mbps = f"{done * payload / p['time_s'] / 1e6:.1f}"
    elif workload == "download" and p.get("time_s"):
        mbps = f"{p.get('bytes_read', 0) / p['time_s'] / 1e6:.1f}"
    return result(row, workload, rnd, status=status, concurrency=conns, requests="", rps=p.get("rps") or "",
                  time_s=p.get("time_s", ""), complete=done, failed=p["failed"], non2xx=p["non2xx"],
                  p50_ms=p["p50_ms"] if p["p50_ms"] is not None else "",
                  p99_ms=p["p99_ms"] if p["p99_ms"] is not None else "",
                  err_connect=p["err_connect"], err_read=p["err_read"], err_write=p["err_write"],
                  err_timeout=p["err_timeout"], cpu_us_per_req=per_req(cpu_all, done),
                  backend_cpu_us_per_req=per_req(cpu_be, done), mb_per_s=mbps,
                  backend_rss_peak_mib=mib(peak),
                  tcp_opens_per_1k=(f"{(opens1 - opens0 - conns) * 1000 / done:.1f}"
                                    if done and opens0 is not None and opens1 is not None else ""),
                  note=note)


def wait_ready(port: int, path: str, deadline: float, procs: list[Proc]) -> str | None:
    last = "no answer"
    while time.time() < deadline:
        for p in procs:
            if not p.alive():
                return f"{p.name} exited (code {p.popen.returncode}): {p.log_tail()}"
        try:
            status, body = fetch(port, path, timeout=5)
            if status == 200:
                return None
            last = f"status {status}: {body[:100]!r}"
        except (OSError, http.client.HTTPException) as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.1)
    return f"not ready: {last}"


def run_row(ctx, row: Row) -> list[dict]:
    out: list[dict] = []
    workloads = [w for w in ctx.workloads if w in row.paths]
    warmup = max(ctx.warmup, (3 if ctx.args.quick else 10) if row.jit_warmup else 0)
    tmp = Path(tempfile.mkdtemp(prefix=f"{row.name}-", dir=ctx.tmp))
    os.chmod(tmp, 0o755)
    log(f"{row.name}: starting ({row.label})")
    procs: list[Proc] = []
    ctx.running = procs
    try:
        port, started = row.start(ctx, row, tmp)
        procs.extend(started)
        why = wait_ready(port, row.paths["hello"], time.time() + row.ready_timeout, procs)
        if why:
            raise SetupError(why)
        has_backend = any(p.role == "backend" for p in procs)
        if has_backend:
            _, idle_rss, _ = sample(procs, "backend")
            out.append(result(row, "-", "idle", backend_rss_peak_mib=mib(idle_rss),
                              backend_rss_process_mib=mib(largest_rss(procs, "backend")),
                              note="backend RSS after start, before load"))
        for w in workloads:
            path = row.paths[w]
            why = check_workload(port, path, w, ctx, timeout=10 if w in ("hello", "doc") else 120)
            if why:
                stalled = why.startswith("NO ANSWER")
                log(f"{row.name}: {w}: {'no answer' if stalled else 'WRONG ANSWER'}, not timed: {why}")
                out.append(result(row, w, "check", status="error" if stalled else "wrong", note=why))
                continue
            if w in ("hello", "doc") or w in BIG_BYTES:
                run_cmd(wrk_argv(ctx, f"http://127.0.0.1:{port}{path}", 8, warmup), warmup + 30)
                for rnd in ctx.rounds:
                    if rnd in ctx.ab_rounds:
                        n, c = ctx.ab_rounds[rnd]
                        r = run_ab_round(ctx, row, procs, port, path, w, rnd, n, c)
                    elif rnd == "wrk":
                        big = BIG_BYTES.get(w, 0)
                        r = run_wrk_round(ctx, row, procs, port, path, w, "wrk", 64, ctx.duration,
                                          timeout="10s" if big else "2s", payload=big)
                    else:
                        continue
                    out.append(r)
                    log(f"{row.name}: {w} {rnd}: {summary(r)}")
                if "scale" in ctx.rounds and w == "hello" and row.name in SCALE_ROWS:
                    for c in SCALE_CONCURRENCY:
                        r = run_wrk_round(ctx, row, procs, port, path, w, f"scale-c{c}", c, ctx.scale_duration)
                        out.append(r)
                        log(f"{row.name}: {w} wrk -c{c}: {summary(r)}")
            elif w == "form":
                # wrk -c64, POSTing the 20 fields (form.lua); -c64 like hello's wrk round
                run_cmd(wrk_argv(ctx, f"http://127.0.0.1:{port}{path}", 8, warmup, ctx.form_lua),
                        warmup + 30)
                if "wrk" in ctx.rounds:
                    r = run_wrk_round(ctx, row, procs, port, path, w, "wrk", 64, ctx.duration,
                                      ctx.form_lua)
                    out.append(r)
                    log(f"{row.name}: form wrk: {summary(r)}")
            elif w == "upload":
                run_cmd(wrk_argv(ctx, f"http://127.0.0.1:{port}{path}", 8, warmup, ctx.upload_lua),
                        warmup + 30)
                r = run_wrk_round(ctx, row, procs, port, path, w, "upload-c64", 64, ctx.duration,
                                  ctx.upload_lua, timeout="10s", payload=UPLOAD_BYTES)
                out.append(r)
                log(f"{row.name}: upload 1 MiB -c64: {summary(r)}")
            elif w == "download":
                r = run_wrk_round(ctx, row, procs, port, path, w, "download-c4", 4, ctx.duration, timeout="60s")
                out.append(r)
                log(f"{row.name}: download 100 MiB -c4: {summary(r)}")
        # still right after the load?
        why = check_workload(port, row.paths["hello"], "hello", ctx, timeout=10)
        if why:
            status = "error" if why.startswith("NO ANSWER") else "wrong"
            out.append(result(row, "hello", "recheck", status=status, note="after the rounds: " + why))
            log(f"{row.name}: {status.upper()} after the rounds: {why}")
        if has_backend:
            _, rss_after, _ = sample(procs, "backend")
            out.append(result(row, "-", "idle-after", backend_rss_peak_mib=mib(rss_after),
                              backend_rss_process_mib=mib(largest_rss(procs, "backend")),
                              note="backend RSS after the rounds"))
    except (SetupError, NotAvailable, OSError) as e:
        tails = "; ".join(f"{p.name}: {p.log_tail(3)}" for p in procs if p.log_tail(3))
        msg = str(e) + (f" [{tails}]" if tails and tails not in str(e) else "")
        log(f"{row.name}: could not run: {msg}")
        out.append(result(row, "-", "start", status="error", note=msg[:600]))
    finally:
        notes = [n for n in (p.stop() for p in reversed(procs)) if n]
        ctx.running = []
        for n in notes:
            log(f"{row.name}: {n}")
            out.append(result(row, "-", "stop", status="note", note=n))
        if not ctx.args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def summary(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['status'].upper()} {r['note']}"
    s = f"{fmt_num(r['rps'])} req/s"
    if r["mb_per_s"]:
        s += f", {r['mb_per_s']} MB/s"
    if r["p99_ms"] != "":
        s += f", p99 {fmt_ms(r['p99_ms'])} ms"
    s += f", failed {r['failed']}"
    if r["non2xx"]:
        s += f", non-2xx {r['non2xx']}"
    if r["backend_cpu_us_per_req"]:
        s += f", CPU {r['cpu_us_per_req']} µs/req (backend {r['backend_cpu_us_per_req']})"
        if r.get("tcp_opens_per_1k"):
            s += f", {r['tcp_opens_per_1k']} new connections per 1k requests"
    if r["note"]:
        s += f" [{r['note']}]"
    return s


def median_pass(passes: list[list[dict]]) -> list[dict]:
    """One result per (row, workload, round): the pass with the median req/s
    (or MB/s), whole, so that its fields agree with each other; the req/s of
    every pass, and its p99 when it has one, go to its note."""
    if len(passes) == 1:
        return passes[0]
    # A row that failed in one pass may have fewer results there: match by
    # (row, workload, round) and occurrence, not by position.
    def keyed(results):
        seen: dict[tuple, int] = {}
        d = {}
        for r in results:
            k = (r["row"], r["workload"], r["round"])
            d[k + (seen.get(k, 0),)] = r
            seen[k] = seen.get(k, 0) + 1
        return d
    maps = [keyed(p) for p in passes]
    out = []
    for k, first in maps[0].items():
        same = [m[k] for m in maps if k in m]
        metric = "rps" if first["rps"] != "" else "mb_per_s" if first["mb_per_s"] != "" else None
        ok = [r for r in same if metric and r["status"] == "ok" and r[metric] != ""]
        if not ok:
            out.append(first)
            continue
        ok.sort(key=lambda r: float(r[metric]))
        chosen = dict(ok[(len(ok) - 1) // 2])
        values = ", ".join(f"{float(r[metric]):,.0f}" for r in same if r[metric] != "")
        note = f"passes: {values}"
        # The chosen pass's p99 is one sample of a noisy figure: the note
        # gives every pass's, so a reader can tell a tail from an accident.
        measured = [r for r in same if r[metric] != ""]
        tails = [r["p99_ms"] for r in measured if r.get("p99_ms", "") != ""]
        if tails and len(tails) == len(measured):
            note += "; p99 ms of each: " + ", ".join(f"{float(t):g}" for t in tails)
        chosen["note"] = ((chosen["note"] + "; ") if chosen["note"] else "") + note
        out.append(chosen)
    return out
