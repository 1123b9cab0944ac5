"""Processes: each started in a session of its own and stopped by its
process group (nginx, Apache, the gateway, the peers); CPU and memory
sampling; nginx's and Apache's own configuration around a rendered snippet."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from .common import IS_ROOT, PAGE, ROOT, SetupError

def read_stat(pid: int):
    """(ppid, session, cpu ticks incl. reaped children, rss bytes) or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    # field k of proc(5) is rest[k - 3]
    ppid, session = int(rest[1]), int(rest[3])
    ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
    rss = int(rest[21]) * PAGE
    return ppid, session, ticks, rss


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


class Proc:
    """One process the harness started, and its descendants."""

    def __init__(self, name: str, argv: list[str], role: str, tmp: Path,
                 env: dict | None = None, cwd: Path | None = None):
        self.name, self.argv, self.role = name, [str(a) for a in argv], role
        self.logpath = tmp / f"{name}.log"
        self.logfile = open(self.logpath, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.logfile,
                                      stderr=subprocess.STDOUT, env=full_env,
                                      cwd=str(cwd) if cwd else None, start_new_session=True)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tree(self) -> list[int]:
        """The leader and every process of its session or descended from it."""
        stats = {}
        for pid in all_pids():
            st = read_stat(pid)
            if st:
                stats[pid] = st
        found = {p for p, st in stats.items() if st[1] == self.pid or p == self.pid}
        changed = True
        while changed:
            changed = False
            for p, st in stats.items():
                if p not in found and st[0] in found:
                    found.add(p)
                    changed = True
        return sorted(found)

    def log_tail(self, n: int = 6) -> str:
        try:
            lines = self.logpath.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def stop(self, timeout: float = 15.0) -> str:
        """SIGTERM to the group, then SIGKILL after timeout. Returns a note."""
        note = ""
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                note = f"{self.name} ignored SIGTERM for {timeout:.0f}s: killed"
        else:
            note = f"{self.name} had exited (code {self.popen.returncode})"
        # workers left behind by a leader that is gone
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.alive():
            self.popen.kill()
            self.popen.wait(5)
        self.logfile.close()
        return note


def sample(procs: list[Proc], role: str | None = None) -> tuple[int, int, list[int]]:
    """(cpu ticks, rss bytes, pids) summed over the trees of procs (of role)."""
    ticks = rss = 0
    pids = []
    for p in procs:
        if role and p.role != role:
            continue
        for pid in p.tree():
            st = read_stat(pid)
            if st:
                ticks += st[2]
                rss += st[3]
                pids.append(pid)
    return ticks, rss, pids


def largest_rss(procs: list[Proc], role: str) -> int:
    """The RSS of the largest single process in the trees of procs (of role):
    one worker of a gateway that forks several."""
    best = 0
    for p in procs:
        if p.role != role:
            continue
        for pid in p.tree():
            st = read_stat(pid)
            if st:
                best = max(best, st[3])
    return best


def sample_roles(procs: list[Proc]) -> tuple[int, int, list[int]]:
    """(cpu ticks of all, cpu ticks of the backend, backend pids), read in one pass."""
    all_ticks = be_ticks = 0
    be_pids = []
    for p in procs:
        for pid in p.tree():
            st = read_stat(pid)
            if st:
                all_ticks += st[2]
                if p.role == "backend":
                    be_ticks += st[2]
                    be_pids.append(pid)
    return all_ticks, be_ticks, be_pids


class RssSampler(threading.Thread):
    """Peak summed RSS of a fixed set of pids, sampled every 50 ms."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids, self.peak, self._halt = pids, 0, threading.Event()

    def run(self):
        while not self._halt.is_set():
            total = 0
            for pid in self.pids:
                st = read_stat(pid)
                if st:
                    total += st[3]
            self.peak = max(self.peak, total)
            self._halt.wait(0.05)

    def finish(self) -> int:
        self._halt.set()
        self.join(2)
        return self.peak


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(addr, deadline: float, proc: Proc | None = None) -> bool:
    """addr is (host, port) or a unix-socket path."""
    while time.time() < deadline:
        if proc is not None and not proc.alive():
            return False
        try:
            if isinstance(addr, (str, Path)):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1)
                    s.connect(str(addr))
            else:
                with socket.create_connection(addr, timeout=1):
                    pass
            return True
        except OSError:
            time.sleep(0.05)
    return False


def run_cmd(argv, timeout: float) -> tuple[int, str, str]:
    try:
        r = subprocess.run([str(a) for a in argv], capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        return -999, out, f"timed out after {timeout:.0f}s"
    except FileNotFoundError as e:
        return -998, "", str(e)


def nginx_conf(tmp: Path, server_text: str, worker_connections: int = 8192,
               rlimit_nofile: int = 16384) -> Path:
    ndir = tmp / "nginx"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (ndir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(ndir / sub, 0o777)
    (ndir / "server.conf").write_text(server_text)
    conf = ndir / "nginx.conf"
    conf.write_text(f"""# generated by bench/run
# multi_accept: nginx otherwise takes one new connection per pass of its
# event loop; while busy proxying at -c1024, the last of wrk's connections
# then wait seconds in the accept queue with their first request timed
# (wrk timeouts that are nginx's, in every fronted row alike).
daemon off;
worker_processes auto;
worker_rlimit_nofile {rlimit_nofile};
pid {ndir}/nginx.pid;
error_log {ndir}/error.log warn;
events {{ worker_connections {worker_connections}; multi_accept on; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path {ndir}/client_body;
    proxy_temp_path {ndir}/proxy;
    fastcgi_temp_path {ndir}/fastcgi;
    uwsgi_temp_path {ndir}/uwsgi;
    scgi_temp_path {ndir}/scgi;
    include {ndir}/server.conf;
}}
""")
    return conf


APACHE_MODULES = "/usr/lib/apache2/modules"


def apache_conf(tmp: Path, port: int, vhost_text: str, modules: list[str]) -> Path:
    adir = tmp / "apache"
    adir.mkdir(exist_ok=True)
    (adir / "vhost.conf").write_text(vhost_text)
    # authz_host: the snippets hold their status page to 127.0.0.1 (Require ip).
    mods = ["mpm_event", "authz_core", "authz_host", "mime"] + modules
    loads = "\n".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so" for m in dict.fromkeys(mods))
    user = "User www-data\nGroup www-data\n" if IS_ROOT else ""
    conf = adir / "httpd.conf"
    # mpm_event sized for the wrk rounds: Debian's defaults (2 children of 25
    # threads, MaxSpareThreads 75) make a child whose workers are all busy
    # close its kept-alive connections, and one going idle stop with its
    # connections: wrk read errors that are Apache's own, not the backend's.
    # Two children (one a core) of 100 threads, none ever stopped.
    conf.write_text(f"""# generated by bench/run: mpm_event, 2 x 100 threads, no access log
ServerRoot {adir}
{loads}
{user}ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {adir}/httpd.pid
DefaultRuntimeDir {adir}
Mutex file:{adir} default
ErrorLog {adir}/error.log
LogLevel warn
TypesConfig /etc/mime.types
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5
Timeout 60
StartServers 2
MinSpareThreads 25
MaxSpareThreads 200
ThreadLimit 100
ThreadsPerChild 100
MaxRequestWorkers 200
MaxConnectionsPerChild 0
<Directory />
    AllowOverride None
    Require all denied
</Directory>
Include {adir}/vhost.conf
""")
    return conf


def start_postern(ctx, tmp: Path, listens: list[str], extra: list[str] | None = None) -> Proc:
    ex = ctx.examples_dir
    argv = [ctx.postern_bin,
            "--mount", f"/hello={ex / 'hello.so'}", "--mount", f"/doc={ex / 'doc.so'}",
            "--mount", f"/echo={ex / 'echo.so'}", "--mount", f"/f={ex / 'faults.so'}",
            "--mount", f"/form={ex / 'form.so'}",
            "--threads", str(ctx.args.threads), "--access-log", "off", "--log-level", "warn",
            "--socket-mode", "0666"]
    if ctx.args.processes is not None:
        argv += ["--processes", str(ctx.args.processes)]
    if ctx.args.pollers is not None:
        argv += ["--pollers", str(ctx.args.pollers)]
    for l in listens:
        argv += ["--listen", l]
    argv += extra or []
    return Proc("postern", argv, "backend", tmp, env={"POSTERN_DOC": str(ctx.doc_path)})


def backend_addr(spec: str):
    """'127.0.0.1:9000' -> ('127.0.0.1', 9000); '/x.sock' -> '/x.sock'."""
    if spec.startswith("/"):
        return spec
    host, port = spec.rsplit(":", 1)
    return (host, int(port))


def start_nginx(ctx, tmp: Path, server_text: str, port: int, **limits) -> Proc:
    """`limits`: nginx_conf's worker_connections and rlimit_nofile."""
    conf = nginx_conf(tmp, server_text, **limits)
    # the shipped snippets include their params files next to nginx.conf
    for params in ("postern_fastcgi_params", "postern_scgi_params", "postern_uwsgi_params"):
        shutil.copy(ROOT / "nginx-conf" / params, conf.parent / params)
    r = run_cmd(["nginx", "-t", "-p", conf.parent, "-c", conf], 20)
    if r[0] != 0:
        raise SetupError("nginx -t: " + " ".join(r[2].strip().splitlines()[-2:]))
    return Proc("nginx", ["nginx", "-p", conf.parent, "-c", conf], "front", tmp)


def start_apache(ctx, tmp: Path, vhost: str, port: int, modules: list[str]) -> Proc:
    conf = apache_conf(tmp, port, vhost, modules)
    r = run_cmd(["apache2", "-t", "-f", conf], 20)
    if r[0] != 0:
        raise SetupError("apache2 -t: " + " ".join((r[1] + r[2]).strip().splitlines()[-2:]))
    return Proc("apache2", ["apache2", "-f", conf, "-DFOREGROUND"], "front", tmp)


def wait_backend(proc: Proc, addr, what: str, timeout: float = 20.0):
    if not wait_listening(addr, time.time() + timeout, proc):
        raise SetupError(f"{what} did not listen on {addr}: {proc.log_tail()}")
