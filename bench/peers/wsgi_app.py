"""bench peer: a plain WSGI application for uWSGI and gunicorn.

/hello answers "Hello, world!\\n" as text/plain; /doc reads the document
named by BENCH_DOC from the file system on every request and answers it as
text/html; anything else is a 404.
"""
import os

HELLO = b"Hello, world!\n"
DOC = os.environ.get("BENCH_DOC", "")


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(HELLO)))])
        return [HELLO]
    if path == "/doc":
        with open(DOC, "rb") as f:
            body = f.read()
        start_response("200 OK", [("Content-Type", "text/html"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    body = b"not found\n"
    start_response("404 Not Found", [("Content-Type", "text/plain"),
                                     ("Content-Length", str(len(body)))])
    return [body]
