"""Plain rows: the configurations a user writes from nginx's and Apache's own
documentation, without Postern's snippets (issue 17). The same front-end
text for Postern and for libfcgi's C responder in each pair, so the ratio is
the gateway's alone:

  nginx-fastcgi-ka8-*     an upstream with `keepalive 8` (nginx's docs size
                          it 16-32; 8 is what the issue measured), 
                          `fastcgi_keep_conn on`, Debian's stock
                          fastcgi_params; past 8 busy connections nginx
                          opens a new one per request.
  nginx-fastcgi-nokeep-*  `fastcgi_pass host:port` and fastcgi_params alone:
                          a new connection per request, as in nginx's
                          FastCGI example.
  apache-fcgi-stock-*     `ProxyPass "/" "fcgi://host:port/"` as in
                          mod_proxy_fcgi's documentation: no enablereuse, a
                          connection per request.

Postern runs with `--threads 8` here (the issue's setting), libfcgi with 128
threads (its best row). nginx-fastcgi-ka8-ceiling puts bench/peers/fcgi_ceiling.c
(one epoll thread per process, as many processes as CPUs) behind the same
`keepalive 8` text: what a responder that costs nearly nothing a request, new
connections included, gets through it."""
from __future__ import annotations

from .peers import start_ceiling, start_libfcgi
from .processes import free_port, start_apache, start_nginx, start_postern, wait_backend

PLAIN_THREADS = 8
STOCK_PARAMS = "/etc/nginx/fastcgi_params"


def nginx_plain(port: int, where: str, keepalive: int | None) -> str:
    if keepalive:
        return f"""upstream backend {{
    server {where};
    keepalive {keepalive};
}}
server {{
    listen 127.0.0.1:{port};
    location / {{
        include {STOCK_PARAMS};
        fastcgi_pass backend;
        fastcgi_keep_conn on;
    }}
}}
"""
    return f"""server {{
    listen 127.0.0.1:{port};
    location / {{
        include {STOCK_PARAMS};
        fastcgi_pass {where};
    }}
}}
"""


def apache_stock(port: int, where: str) -> str:
    return f"""<VirtualHost 127.0.0.1:{port}>
    ProxyPass "/" "fcgi://{where}/"
</VirtualHost>
"""


def start_plain_backend(ctx, tmp, backend: str):
    """(procs, where) for 'postern', 'libfcgi' or 'ceiling'."""
    if backend == "libfcgi":
        proc, where = start_libfcgi(ctx, tmp, 128)
        return [proc], where
    if backend == "ceiling":
        proc, where = start_ceiling(ctx, tmp)
        return [proc], where
    bport = free_port()
    where = f"127.0.0.1:{bport}"
    proc = start_postern(ctx, tmp, [f"fastcgi={where}"], ["--threads", str(PLAIN_THREADS)])
    try:
        wait_backend(proc, ("127.0.0.1", bport), "postern")
    except Exception:
        proc.stop()
        raise
    return [proc], where


def make_plain_row(front: str, backend: str):
    """front: 'nginx-ka8', 'nginx-nokeep' or 'apache-stock'."""
    def start(ctx, row, tmp):
        procs, where = start_plain_backend(ctx, tmp, backend)
        port = free_port()
        try:
            if front == "apache-stock":
                procs.append(start_apache(ctx, tmp, apache_stock(port, where), port, ["proxy", "proxy_fcgi"]))
            else:
                text = nginx_plain(port, where, 8 if front == "nginx-ka8" else None)
                procs.append(start_nginx(ctx, tmp, text, port))
        except Exception:
            for p in procs:
                p.stop()
            raise
        return port, procs
    return start
