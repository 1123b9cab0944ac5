"""What every part of bench/run shares: paths, the rounds' sizes, the log
line, the errors a row's set-up raises."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "bench"
PEERS = BENCH / "peers"
DOC_SOURCE = ROOT / "examples" / "doc" / "index.html"
HELLO = b"Hello, world!\n"
UPLOAD_BYTES = 1 << 20
DOWNLOAD_BYTES = 100 << 20
NPROC = os.cpu_count() or 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
IS_ROOT = os.geteuid() == 0
# the peers run on Debian's python3 (the one uwsgi-plugin-python3 and gunicorn use)
DEBIAN_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable

ALL_WORKLOADS = ["hello", "doc", "big100k", "big1m", "form", "upload", "download"]
# The big responses (issue 17): 100 KiB and 1 MiB of 'x', which Postern's rows
# serve from the faults example (/f/big?bytes=N: 64 KiB writes, each flushed)
# and the libfcgi C peer the same way; timed like hello and doc.
BIG_BYTES = {"big100k": 100 << 10, "big1m": 1 << 20}
# The `form` workload: an urlencoded POST of 20 fields, which the form
# example (examples/form, POST /form/echo) decodes with req.form() and echoes,
# one "name: value" line each, in order.
FORM_FIELDS = [(f"field{i:02d}", f"value {i} & more") for i in range(20)]
FORM_BODY = "&".join(f"{k}={v.replace(' ', '+').replace('&', '%26')}" for k, v in FORM_FIELDS).encode()
FORM_ECHO = "".join(f"{k}: {v}\n" for k, v in FORM_FIELDS).encode()
AB_ROUNDS = {"R1": (2000, 20), "R2": (500, 1), "R2b": (4000, 1)}
QUICK_AB_ROUNDS = {"R1": (500, 20), "R2": (100, 1), "R2b": (500, 1)}
ALL_ROUNDS = ["R1", "R2", "R2b", "wrk", "scale"]
SCALE_CONCURRENCY = [1, 8, 64, 256, 1024]
# nginx's upstream keepalive pool (per worker) for the libfcgi C rows; see
# make_libfcgi_row.
LIBFCGI_KEEPALIVE = 32
SCALE_ROWS = ["nginx-static", "nginx-fastcgi-postern", "postern-http", "nginx-fastcgi-libfcgi128", "nginx-fastcgi-ceiling",
              "nginx-fastcgi-ka8-postern", "nginx-fastcgi-ka8-libfcgi128", "nginx-fastcgi-ka8-ceiling"]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class SetupError(Exception):
    pass


class NotAvailable(Exception):
    pass


class Ctx:
    """The run's settings and state, filled in by cli.main()."""


def fmt_num(v, nd=0) -> str:
    if v in ("", None):
        return "–"
    return f"{float(v):,.{nd}f}"


def fmt_ms(v) -> str:
    if v in ("", None):
        return "–"
    v = float(v)
    return f"{v:.2f}" if v < 10 else f"{v:.0f}" if v >= 100 else f"{v:.1f}"
