"""The shipped snippets (nginx-conf/, apache-conf/) rendered for a row, with
the placeholder set and the rules of the integration tests
(tests/support/process.cpp render(), tests/support/stack.cpp)."""
from __future__ import annotations

import re
from pathlib import Path

from .common import ROOT, SetupError

PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def render(text: str, values: dict, where: str = "template") -> str:
    """Replaces every placeholder @NAME@ (NAME: capital letters, digits and
    '_', starting with a letter) in one pass, comments included. A placeholder
    without a value is an error, so a snippet is never used half-filled:
    the rule of the integration tests' render()."""
    def fill(m: re.Match) -> str:
        if m.group(1) not in values:
            raise SetupError(f"{where}: placeholder @{m.group(1)}@ has no value")
        return str(values[m.group(1)])
    return PLACEHOLDER.sub(fill, text)


def render_snippet(path: Path, values: dict) -> str:
    """render() over a shipped file (nginx-conf/, apache-conf/)."""
    return render(path.read_text(), values, str(path.relative_to(ROOT)))


def nginx_target(proto: str, where: str) -> str:
    return f"unix:{where}" if where.startswith("/") else where


def apache_target(proto: str, where: str) -> str:
    scheme = {"fastcgi": "fcgi", "http": "http", "scgi": "scgi", "uwsgi": "uwsgi", "ajp": "ajp"}[proto]
    if where.startswith("/"):
        return f"unix:{where}|{scheme}://localhost"
    return f"{scheme}://{where}"


# The AJP rows: the gateway and the snippets share this secret (Postern
# refuses AJP requests without one).
AJP_SECRET = "bench-ajp-secret-0123456789"


def jk_values(where: str, tmp: Path) -> dict:
    """apache-conf/postern-mod-jk.conf's placeholders, with
    postern-workers.properties rendered next to Apache's configuration."""
    adir = tmp / "apache"
    adir.mkdir(exist_ok=True)
    host, port = where.rsplit(":", 1)
    workers = adir / "postern-workers.properties"
    text = render_snippet(ROOT / "apache-conf/postern-workers.properties",
                          {"POSTERN_AJP_HOST": host, "POSTERN_AJP_PORT": port, "AJP_SECRET": AJP_SECRET})
    # as the file says: connection_pool_size = the ThreadsPerChild of
    # apache_conf() (100), which is also mod_jk's default, as the Tomcat
    # row gets it; with the shipped 32, a child with more requests in
    # flight makes them wait for a connection
    text, n = re.subn(r"^(worker\.postern\.connection_pool_size)=\d+$", r"\1=100", text, flags=re.M)
    if n != 1:
        raise SetupError("apache-conf/postern-workers.properties: no worker.postern.connection_pool_size line")
    workers.write_text(text)
    return {"JK_WORKERS_FILE": str(workers), "JK_SHM_FILE": str(adir / "jk-runtime-status"),
            "JK_LOG_FILE": str(adir / "mod_jk.log")}


def snippet_values(proto: str, snippet: str, where: str, target: str, port: int, tmp: Path) -> dict:
    """The placeholders tests/support/stack.cpp fills for a snippet:
    LISTEN (the front end's own address); the gateway's address as
    POSTERN_<PROTOCOL> (POSTERN_FASTCGI, POSTERN_HTTP, ...), or twice as
    POSTERN_<PROTOCOL>_1 and _2 for a pool snippet (the one gateway, twice);
    AJP_SECRET for mod_proxy_ajp; mod_jk's JK_WORKERS_FILE, JK_SHM_FILE and
    JK_LOG_FILE."""
    v = {"LISTEN": f"127.0.0.1:{port}"}
    address = "POSTERN_" + proto.upper()
    if snippet.endswith("mod-jk.conf"):
        v.update(jk_values(where, tmp))
    elif snippet.endswith(("-pool.conf", "proxy-balancer.conf")):
        v.update({address + "_1": target, address + "_2": target})
    else:
        v[address] = target
    if snippet.endswith(("proxy-ajp.conf", "proxy-balancer.conf")):
        v["AJP_SECRET"] = AJP_SECRET
    return v
