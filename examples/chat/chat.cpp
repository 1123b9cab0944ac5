// Example: a chat room over WebSockets. Mounted at /chat (`--mount
// /chat=chat.so`, served over the HTTP listener: directly, or behind
// nginx-conf/postern-websocket.conf or apache-conf/postern-websocket.conf):
//
//   GET /chat/        a page with a small chat client (open it in two tabs)
//   GET /chat/room    the room, a WebSocket: every text message a member
//                     sends goes to every member, the sender included
//   GET /chat/echo    a WebSocket that sends every message back as it came,
//                     text or binary (for the tests and the bench)
//
// A plain GET of /chat/room or /chat/echo is answered 426 (Upgrade
// Required) by WebSocket::accept.
//
// Settings, from the mount's section of the --config file:
//
//   [/chat]
//   max-message = 65536   # bytes of one room message (1009 beyond)
//   max-members = 10000   # a member past it is closed with 1013 (try later)
//
// The room's members are shared_ptrs in a vector behind a mutex. The
// handlers run on the gateway's stream thread and must not block: send()
// only queues, so broadcasting to every member is a loop of queued writes.
// A member too slow to take what the room says (its queue at the bound)
// is closed with 1008 rather than let the room wait or grow its memory.
//
// State: the room lives in each worker process (POSTERN_MODULE's setup runs
// once per worker, after the fork): members connected to two workers are
// in two rooms. Run it with --processes 1, or broadcast through something
// every worker sees.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <postern/postern.hpp>

namespace {

using postern::Request;
using postern::Response;
using postern::WebSocket;

class Room {
  public:
    explicit Room(std::size_t max_members) : max_members_(max_members) {}

    bool join(const std::shared_ptr<WebSocket>& ws) {
        std::lock_guard lock(mutex_);
        if (members_.size() >= max_members_)
            return false;
        members_.push_back(ws);
        return true;
    }

    void leave(const WebSocket* ws) {
        std::lock_guard lock(mutex_);
        std::erase_if(members_, [ws](const auto& m) { return m.get() == ws; });
    }

    void broadcast(std::string_view text) {
        std::vector<std::shared_ptr<WebSocket>> members;
        {
            std::lock_guard lock(mutex_);
            members = members_;  // sent outside the lock: a send may close
        }
        for (const auto& m : members)
            if (!m->send(text) && m->open())
                m->close(1008, "too slow to follow the room");
    }

  private:
    const std::size_t max_members_;
    std::mutex mutex_;
    std::vector<std::shared_ptr<WebSocket>> members_;
};

void room(const std::shared_ptr<Room>& room, std::size_t max_message, Request& req, Response& res) {
    WebSocket::Options options;
    options.max_message = max_message;
    std::shared_ptr<WebSocket> ws = WebSocket::accept(req, res, options);
    if (!ws)
        return;  // not a WebSocket handshake: answered (400/426) in res
    if (!room->join(ws)) {
        ws->close(1013, "the room is full");
        return;
    }
    // The handlers hold the room, and a weak pointer to their own
    // connection (a shared one would do too: they are released once
    // on_close has run).
    std::weak_ptr<WebSocket> self = ws;
    ws->on_message([room, self](std::string_view data, bool binary) {
        if (binary) {
            if (auto me = self.lock())
                me->close(1003, "this room takes text only");
            return;
        }
        room->broadcast(data);
    });
    ws->on_close([room, raw = ws.get()](int, std::string_view) { room->leave(raw); });
}

void echo(Request& req, Response& res) {
    std::shared_ptr<WebSocket> ws = WebSocket::accept(req, res);
    if (!ws)
        return;
    ws->on_message([ws](std::string_view data, bool binary) { ws->send(data, binary); });
}

/// The page: a text box and the room's messages, in a few lines of script
/// (the room's address is the page's own path + "/room").
void page(Request&, Response& res) {
    res.header("Content-Type", "text/html; charset=utf-8");
    res.write(R"(<!doctype html>
<meta charset="utf-8">
<title>Postern chat</title>
<style>body{font:16px sans-serif;max-width:40em;margin:2em auto}#log{white-space:pre-wrap}</style>
<h1>Postern chat</h1>
<form id="f"><input id="m" autocomplete="off" size="50" autofocus> <button>Send</button></form>
<div id="log"></div>
<script>
const room = location.pathname.replace(/\/$/, "") + "/room";
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + room);
const log = document.getElementById("log");
const say = t => log.prepend(document.createTextNode(t + "\n"));
ws.onopen = () => say("* connected");
ws.onmessage = e => say(e.data);
ws.onclose = e => say("* closed: " + e.code + " " + e.reason);
document.getElementById("f").onsubmit = e => {
  e.preventDefault();
  const m = document.getElementById("m");
  if (m.value) ws.send(m.value);
  m.value = "";
};
</script>
)");
}

postern::Handler setup(const postern::ModuleConfig& config) {
    const auto max_message =
        static_cast<std::size_t>(config.get_int("max-message", 64 * 1024, 1, 16 << 20));
    const auto max_members =
        static_cast<std::size_t>(config.get_int("max-members", 10'000, 1, 1'000'000));
    auto shared_room = std::make_shared<Room>(max_members);
    postern::Router router;
    router.get("/", page)
        .get("/room",
             [shared_room, max_message](Request& req, Response& res) {
                 room(shared_room, max_message, req, res);
             })
        .get("/echo", echo);
    return router;
}

}  // namespace

POSTERN_MODULE(setup)
