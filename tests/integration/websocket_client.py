#!/usr/bin/python3
"""An independent WebSocket client against the chat example.

Run by tests/integration/websocket_test.cpp with Debian's python3 and its
python3-websockets (not the project's own codec), once per way to reach the
gateway: directly, through nginx and through Apache with the shipped
snippets. Usage: websocket_client.py ws://HOST:PORT/chat

Checks, each a line on stdout ("ok ..."), the first failure an exception
and exit status 1: echo of text, binary and a fragmented message, a message
of exactly the bound (1 MiB), a ping answered with a pong, the closing
handshake with the client's code echoed, a message one byte over the bound
closed with 1009 (and the next connection served), the room broadcasting to
every member and closing a binary sender with 1003, and a plain GET of a
WebSocket route answered 426 on a connection that then serves the page.

With --going-away: connects to /echo, has one message echoed, prints
"connected", then waits (30 s at most) for the server to close, and prints
"closed CODE REASON": the code of the server's Close frame ("closed none"
without one) once the closing handshake is over.
"""
import asyncio
import http.client
import sys
import urllib.parse

import websockets

BOUND = 1 << 20  # the gateway's default WebSocket.Options.max_message
TIMEOUT = 10


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok", what, flush=True)


async def connect(url):
    # max_size=None: the client takes any size (the gateway's bound is the
    # one under test). The client offers permessage-deflate; the gateway
    # negotiates no extension, so none is used.
    return await asyncio.wait_for(websockets.connect(url, max_size=None), TIMEOUT)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def echo(base):
    ws = await connect(base + "/echo")
    check(ws.extensions == [], "no extension negotiated")
    await ws.send("h\u00e9llo \U0001f600")
    check(await recv(ws) == "h\u00e9llo \U0001f600", "text echoed")
    data = bytes(range(256)) * 300
    await ws.send(data)
    check(await recv(ws) == data, "binary echoed")
    await ws.send(iter(["frag", "men", "ted \u00e9"]))
    check(await recv(ws) == "fragmented \u00e9", "fragmented message reassembled")
    big = "m" * BOUND
    await ws.send(big)
    check(await recv(ws) == big, "a message of exactly the bound (1 MiB) echoed")
    pong = await ws.ping(b"are you there")
    await asyncio.wait_for(pong, TIMEOUT)
    check(True, "ping answered with a pong")
    await asyncio.wait_for(ws.close(4001, "bye"), TIMEOUT)
    check(ws.close_code == 4001 and ws.close_reason == "bye",
          "closing handshake: the client's code echoed (%s %r)" % (ws.close_code, ws.close_reason))


async def over_the_bound(base):
    ws = await connect(base + "/echo")
    try:
        # The gateway refuses at the frame's header, so its Close may come
        # while the rest of the message is still being sent.
        await ws.send("o" * (BOUND + 1))
        await recv(ws)
        raise AssertionError("a message over the bound was echoed")
    except websockets.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd is not None else None
        check(code == 1009, "a message one byte over the bound closed with 1009 (%s)" % code)
    ws = await connect(base + "/echo")
    await ws.send("after")
    check(await recv(ws) == "after", "the next connection is served")
    await ws.close()


async def room(base):
    a = await connect(base + "/room")
    b = await connect(base + "/room")
    c = await connect(base + "/room")
    await a.send("hello, room")
    got = [await recv(m) for m in (a, b, c)]
    check(got == ["hello, room"] * 3, "the room broadcasts to every member")
    await c.close()
    await b.send("two left")
    check([await recv(m) for m in (a, b)] == ["two left"] * 2, "the room goes on after a member left")
    await b.send(b"\x00binary")
    try:
        await recv(b)
        raise AssertionError("binary in the room was accepted")
    except websockets.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd is not None else None
        check(code == 1003, "a binary message in the room closed with 1003 (%s)" % code)
    await a.send("still here")
    check(await recv(a) == "still here", "the room goes on")
    await a.close()


def plain_request(base):
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT)
    conn.request("GET", url.path + "/echo")
    r = conn.getresponse()
    body = r.read()
    check(r.status == 426, "a plain GET of a WebSocket route answered %d" % r.status)
    check(b"Upgrade: websocket" in body, "the refusal says why")
    conn.request("GET", url.path + "/")
    r = conn.getresponse()
    page = r.read()
    check(r.status == 200 and b"Postern chat" in page,
          "the same connection then serves the page")
    conn.close()


async def main(base):
    await echo(base)
    await over_the_bound(base)
    await room(base)
    plain_request(base.replace("ws://", "http://", 1))


async def going_away(base):
    ws = await connect(base + "/echo")
    await ws.send("before the stop")
    check(await recv(ws) == "before the stop", "echoed before the stop")
    print("connected", flush=True)
    try:
        await asyncio.wait_for(ws.recv(), 30)
        raise AssertionError("a message arrived instead of the close")
    except websockets.exceptions.ConnectionClosed as e:
        if e.rcvd is None:
            print("closed none", flush=True)
        else:
            print("closed %d %s" % (e.rcvd.code, e.rcvd.reason), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--going-away":
        asyncio.run(going_away(sys.argv[2]))
    elif len(sys.argv) == 2:
        asyncio.run(main(sys.argv[1]))
    else:
        sys.exit("usage: websocket_client.py [--going-away] ws://HOST:PORT/chat")
