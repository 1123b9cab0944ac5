"""bench peer: the 2009 "Python BaseHTTP" row.

What `python3 -m http.server PORT --bind ADDR --directory DIR` runs
(ThreadingHTTPServer + SimpleHTTPRequestHandler, HTTP/1.0), with the
per-request log line to stderr turned off, as access logs are everywhere in
bench/. DIR holds the files `hello` and `doc`, read per request.

    python3 basehttp.py ADDR PORT DIR
"""
import functools
import http.server
import sys


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the stdlib's name)
        pass


def main():
    addr, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    handler = functools.partial(QuietHandler, directory=directory)
    with http.server.ThreadingHTTPServer((addr, port), handler) as httpd:
        httpd.serve_forever()


if __name__ == "__main__":
    main()
