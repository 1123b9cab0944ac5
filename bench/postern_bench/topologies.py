"""The rows: what each one starts (the shipped snippets rendered for the
Postern rows), the paths it answers, and choosing rows on the command line."""
from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .common import BIG_BYTES, DOWNLOAD_BYTES, HELLO, ROOT
from .peers import (
    make_ceiling_row, make_libfcgi_row, make_tomcat_fronted, start_basehttp, start_gunicorn, start_nginx_uwsgi,
    start_php, start_tomcat_direct, start_uwsgi_http)
from .plain import make_plain_row
from .processes import free_port, start_apache, start_nginx, start_postern, wait_backend
from .snippets import AJP_SECRET, apache_target, nginx_target, render_snippet, snippet_values

@dataclass
class Row:
    name: str
    label: str
    kind: str                  # limit | postern | peer | tomcat
    start: object              # callable(ctx, row, tmp) -> (port, [Proc])
    paths: dict                # workload -> request path
    packages: list = field(default_factory=list)
    needs_proto: str | None = None     # a Postern protocol the row needs
    snippet: str | None = None         # shipped snippet the row renders
    ready_timeout: float = 20.0
    jit_warmup: bool = False           # a JVM: warm up longer (10 s, quick 3 s)


POSTERN_PATHS = {"hello": "/hello", "doc": "/doc", "form": "/form/echo", "upload": "/echo",
                 "download": f"/f/big?bytes={DOWNLOAD_BYTES}",
                 **{w: f"/f/big?bytes={n}" for w, n in BIG_BYTES.items()}}
STATIC_PATHS = {"hello": "/hello", "doc": "/doc", "download": "/big", **{w: f"/{w}" for w in BIG_BYTES}}
PEER_PATHS = {"hello": "/hello", "doc": "/doc"}
# libfcgi C serves the big responses too, the same bytes the same way
LIBFCGI_PATHS = {**PEER_PATHS, **{w: f"/f/big?bytes={n}" for w, n in BIG_BYTES.items()}}


def static_docroot(ctx, tmp: Path) -> Path:
    root = tmp / "docroot"
    root.mkdir(exist_ok=True)
    os.chmod(root, 0o755)
    (root / "hello").write_bytes(HELLO)
    shutil.copy(ctx.doc_path, root / "doc")
    for w, n in BIG_BYTES.items():
        (root / w).write_bytes(b"x" * n)
    if "download" in ctx.workloads:
        big = root / "big"
        with open(big, "wb") as f:
            piece = b"x" * (1 << 20)
            for _ in range(DOWNLOAD_BYTES >> 20):
                f.write(piece)
    for p in root.iterdir():
        os.chmod(p, 0o644)
    return root


# ---- limit rows

def start_nginx_static(ctx, row, tmp):
    port, root = free_port(), static_docroot(ctx, tmp)
    server = f"""server {{
    listen 127.0.0.1:{port};
    root {root};
    location = /hello {{ default_type text/plain; }}
    location = /doc {{ default_type text/html; }}
    location = /big {{ default_type application/octet-stream; }}
    location = /big100k {{ default_type application/octet-stream; }}
    location = /big1m {{ default_type application/octet-stream; }}
}}
"""
    return port, [start_nginx(ctx, tmp, server, port)]


def start_apache_static(ctx, row, tmp):
    port, root = free_port(), static_docroot(ctx, tmp)
    vhost = f"""<VirtualHost 127.0.0.1:{port}>
    DocumentRoot {root}
    <Directory {root}>
        Options None
        AllowOverride None
        Require all granted
    </Directory>
    <Location /hello>
        ForceType text/plain
    </Location>
    <Location /doc>
        ForceType text/html
    </Location>
</VirtualHost>
"""
    return port, [start_apache(ctx, tmp, vhost, port, [])]


# ---- Postern rows (the shipped snippets, rendered)

def postern_listen(tmp: Path, proto: str, unix: bool):
    """(postern --listen value, address to wait on, host:port or socket path)."""
    if unix:
        path = tmp / f"postern-{proto}.sock"
        return f"{proto}={path}", str(path), str(path)
    port = free_port()
    return f"{proto}=127.0.0.1:{port}", ("127.0.0.1", port), f"127.0.0.1:{port}"


def make_postern_fronted(front: str, proto: str, snippet: str, unix: bool = False):
    def start(ctx, row, tmp):
        listen, addr, where = postern_listen(tmp, proto, unix)
        port = free_port()
        extra = ["--trusted-proxy", "127.0.0.1"] if proto == "http" else []
        if proto == "ajp":
            extra = ["--ajp-secret", AJP_SECRET]
        backend = start_postern(ctx, tmp, [listen], extra)
        procs = [backend]
        try:
            wait_backend(backend, addr, "postern")
            target = nginx_target(proto, where) if front == "nginx" else apache_target(proto, where)
            text = render_snippet(ROOT / snippet, snippet_values(proto, snippet, where, target, port, tmp))
            if front == "nginx":
                procs.append(start_nginx(ctx, tmp, text, port))
            else:
                mods = {"fastcgi": ["proxy", "proxy_fcgi"], "http": ["proxy", "proxy_http", "headers"],
                        "scgi": ["proxy", "proxy_scgi"], "uwsgi": ["proxy", "proxy_uwsgi"],
                        "ajp": ["proxy", "proxy_ajp"]}[proto]
                if snippet.endswith("mod-jk.conf"):
                    mods = ["jk"]
                procs.append(start_apache(ctx, tmp, text, port, mods))
        except Exception:
            for p in procs:
                p.stop()
            raise
        return port, procs
    return start


def start_postern_direct(ctx, row, tmp):
    port = free_port()
    p = start_postern(ctx, tmp, [f"http=127.0.0.1:{port}"])
    return port, [p]


FASTCGI_SNIPPET_NGINX = "nginx-conf/postern-fastcgi.conf"


def build_rows() -> list[Row]:
    R = []
    R.append(Row("nginx-static", "nginx static", "limit", start_nginx_static, STATIC_PATHS, ["nginx"]))
    R.append(Row("apache-static", "Apache (mpm_event) static", "limit", start_apache_static, STATIC_PATHS,
                 ["apache2"]))
    pn = ["nginx"]
    pa = ["apache2"]
    R.append(Row("nginx-fastcgi-postern", "nginx → FastCGI (TCP) → Postern", "postern",
                 make_postern_fronted("nginx", "fastcgi", FASTCGI_SNIPPET_NGINX), POSTERN_PATHS, pn,
                 "fastcgi", FASTCGI_SNIPPET_NGINX))
    R.append(Row("nginx-fastcgi-unix-postern", "nginx → FastCGI (unix) → Postern", "postern",
                 make_postern_fronted("nginx", "fastcgi", FASTCGI_SNIPPET_NGINX, unix=True), POSTERN_PATHS, pn,
                 "fastcgi", FASTCGI_SNIPPET_NGINX))
    R.append(Row("nginx-http-postern", "nginx → HTTP → Postern", "postern",
                 make_postern_fronted("nginx", "http", "nginx-conf/postern-http.conf"), POSTERN_PATHS, pn,
                 "http", "nginx-conf/postern-http.conf"))
    R.append(Row("nginx-scgi-postern", "nginx → SCGI → Postern", "postern",
                 make_postern_fronted("nginx", "scgi", "nginx-conf/postern-scgi.conf"), POSTERN_PATHS, pn,
                 "scgi", "nginx-conf/postern-scgi.conf"))
    R.append(Row("nginx-uwsgi-postern", "nginx → uwsgi → Postern", "postern",
                 make_postern_fronted("nginx", "uwsgi", "nginx-conf/postern-uwsgi.conf"), POSTERN_PATHS, pn,
                 "uwsgi", "nginx-conf/postern-uwsgi.conf"))
    R.append(Row("apache-fcgi-postern", "Apache → mod_proxy_fcgi → Postern", "postern",
                 make_postern_fronted("apache", "fastcgi", "apache-conf/postern-proxy-fcgi.conf"), POSTERN_PATHS,
                 pa, "fastcgi", "apache-conf/postern-proxy-fcgi.conf"))
    R.append(Row("apache-http-postern", "Apache → mod_proxy_http → Postern", "postern",
                 make_postern_fronted("apache", "http", "apache-conf/postern-proxy-http.conf"), POSTERN_PATHS,
                 pa, "http", "apache-conf/postern-proxy-http.conf"))
    R.append(Row("apache-jk-postern", "Apache → mod_jk → Postern", "postern",
                 make_postern_fronted("apache", "ajp", "apache-conf/postern-mod-jk.conf"), POSTERN_PATHS,
                 pa + ["libapache2-mod-jk"], "ajp", "apache-conf/postern-mod-jk.conf"))
    R.append(Row("apache-ajp-postern", "Apache → mod_proxy_ajp → Postern", "postern",
                 make_postern_fronted("apache", "ajp", "apache-conf/postern-proxy-ajp.conf"), POSTERN_PATHS,
                 pa, "ajp", "apache-conf/postern-proxy-ajp.conf"))
    R.append(Row("apache-scgi-postern", "Apache → mod_proxy_scgi → Postern", "postern",
                 make_postern_fronted("apache", "scgi", "apache-conf/postern-proxy-scgi.conf"), POSTERN_PATHS,
                 pa, "scgi", "apache-conf/postern-proxy-scgi.conf"))
    R.append(Row("apache-uwsgi-postern", "Apache → mod_proxy_uwsgi → Postern", "postern",
                 make_postern_fronted("apache", "uwsgi", "apache-conf/postern-proxy-uwsgi.conf"), POSTERN_PATHS,
                 pa, "uwsgi", "apache-conf/postern-proxy-uwsgi.conf"))
    R.append(Row("postern-http", "Postern direct HTTP", "postern", start_postern_direct, POSTERN_PATHS, [],
                 "http"))
    R.append(Row("nginx-fastcgi-libfcgi8", "nginx → FastCGI → libfcgi C, 8 threads", "peer",
                 make_libfcgi_row("nginx", 8), LIBFCGI_PATHS, pn + ["libfcgi-dev", "gcc"]))
    R.append(Row("nginx-fastcgi-libfcgi128", "nginx → FastCGI → libfcgi C, 128 threads", "peer",
                 make_libfcgi_row("nginx", 128), LIBFCGI_PATHS, pn + ["libfcgi-dev", "gcc"]))
    R.append(Row("apache-fcgi-libfcgi128", "Apache → mod_proxy_fcgi → libfcgi C, 128 threads", "peer",
                 make_libfcgi_row("apache", 128), LIBFCGI_PATHS, pa + ["libfcgi-dev", "gcc"]))
    R.append(Row("nginx-fastcgi-ceiling", "nginx → FastCGI → ceiling (pre-built records, epoll)", "peer",
                 make_ceiling_row(), {"hello": "/hello"}, pn + ["gcc"]))
    # Plain configurations from the front ends' own docs (bench/postern_bench/plain.py).
    for front, label in (("nginx-ka8", "nginx (keepalive 8, stock params) → FastCGI"),
                         ("nginx-nokeep", "nginx (no keep_conn) → FastCGI"),
                         ("apache-stock", "Apache stock mod_proxy_fcgi")):
        fam = pa if front.startswith("apache") else pn
        R.append(Row(f"{front.replace('nginx-', 'nginx-fastcgi-').replace('apache-', 'apache-fcgi-')}-postern",
                     f"{label} → Postern, 8 threads", "postern", make_plain_row(front, "postern"),
                     POSTERN_PATHS, fam, "fastcgi"))
        R.append(Row(f"{front.replace('nginx-', 'nginx-fastcgi-').replace('apache-', 'apache-fcgi-')}-libfcgi128",
                     f"{label} → libfcgi C, 128 threads", "peer", make_plain_row(front, "libfcgi"),
                     LIBFCGI_PATHS, fam + ["libfcgi-dev", "gcc"]))
    R.append(Row("nginx-fastcgi-ka8-ceiling", "nginx (keepalive 8, stock params) → FastCGI → ceiling", "peer",
                 make_plain_row("nginx-ka8", "ceiling"), {"hello": "/hello"}, pn + ["gcc"]))
    R.append(Row("nginx-php-fpm", "nginx → FastCGI → PHP-FPM (pm static)", "peer", start_php, PEER_PATHS,
                 pn + ["php-fpm"]))
    R.append(Row("nginx-uwsgi", "nginx → uwsgi → uWSGI (Python WSGI)", "peer", start_nginx_uwsgi, PEER_PATHS,
                 pn + ["uwsgi", "uwsgi-plugin-python3"]))
    R.append(Row("uwsgi-http", "uWSGI HTTP (Python WSGI)", "peer", start_uwsgi_http, PEER_PATHS,
                 ["uwsgi", "uwsgi-plugin-python3"]))
    R.append(Row("nginx-gunicorn", "nginx → HTTP → gunicorn (sync)", "peer", start_gunicorn, PEER_PATHS,
                 pn + ["gunicorn"]))
    R.append(Row("python-basehttp", "python3 -m http.server (BaseHTTP)", "peer", start_basehttp, PEER_PATHS, []))
    R.append(Row("tomcat-direct", "Tomcat 10 direct HTTP", "tomcat", start_tomcat_direct, PEER_PATHS,
                 ["tomcat10"], ready_timeout=90, jit_warmup=True))
    R.append(Row("apache-jk-tomcat", "Apache → mod_jk → Tomcat 10", "tomcat", make_tomcat_fronted("jk"),
                 PEER_PATHS, pa + ["tomcat10", "libapache2-mod-jk"], ready_timeout=90, jit_warmup=True))
    R.append(Row("apache-ajp-tomcat", "Apache → mod_proxy_ajp → Tomcat 10", "tomcat", make_tomcat_fronted("ajp"),
                 PEER_PATHS, pa + ["tomcat10"], ready_timeout=90, jit_warmup=True))
    return R


def select_rows(all_rows: list[Row], spec: str | None, tomcat: bool) -> list[Row]:
    names = {r.name: r for r in all_rows}
    if not spec or spec == "all":
        return [r for r in all_rows if r.kind != "tomcat" or tomcat]
    chosen = []
    for item in spec.split(","):
        item = item.strip()
        if item in ("limit", "postern", "peer", "peers", "tomcat"):
            kind = "peer" if item == "peers" else item
            chosen += [r for r in all_rows if r.kind == kind]
        elif item in names:
            chosen.append(names[item])
        else:
            matches = [r for r in all_rows if re.fullmatch(item.replace("*", ".*"), r.name)]
            if not matches:
                sys.exit(f"bench/run: no row {item!r} (bench/run --list shows them)")
            chosen += matches
    seen = set()
    return [r for r in all_rows if r in chosen and not (r.name in seen or seen.add(r.name))]
