// Example: a JSON REST API of items, with routes, state and settings of its
// own. Mounted at /api (`--mount /api=rest.so`):
//
//   GET    /api/items?limit=N&offset=M   a page of items, oldest first
//   GET    /api/items/{id}               one item
//   POST   /api/items                    {"name": "pen", "quantity": 3}: 201 + Location
//   PUT    /api/items/{id}               replaces the item (name required)
//   PATCH  /api/items/{id}               changes the fields given
//   DELETE /api/items/{id}               204
//
// An item is {"id": 1, "name": "pen", "quantity": 3}: a name of 1 to 200
// bytes, a quantity from 0 to 1,000,000,000 (default 0), sent as
// application/json with a Content-Length (415, 411 otherwise). Every error, the
// router's own 404 and 405 included, is answered in JSON:
// {"error": "no item 7", "status": 404}.
//
// Settings, from the mount's section of the --config file:
//
//   [/api]
//   max-items = 1000     # POST answers 409 beyond, and logs a warning
//   page-size = 20       # GET /items without ?limit=
//   max-body = 65536     # bytes of a JSON body (413 beyond)
//
// State: the items live in memory, in each worker process (POSTERN_MODULE's
// setup runs once per worker, after the fork). With --processes 2 there are
// two stores, and a GET may reach the one that did not see the POST: run
// this example with --processes 1, or keep the state where every worker
// sees it (a database, opened in setup). Each mount of the module has its
// own store and settings; the store is shared by the worker's threads,
// behind a mutex.
//
// JSON is parsed and written with Poco::JSON (the module links it itself;
// the gateway's headers need no Poco).
#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <charconv>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <postern/postern.hpp>

namespace {

using postern::Request;
using postern::RequestError;
using postern::Response;

constexpr long long kMaxQuantity = 1'000'000'000;
constexpr std::size_t kMaxName = 200;

struct Settings {
    std::size_t max_items;
    long long page_size;
    std::size_t max_body;
};

struct Item {
    std::string name;
    long long quantity = 0;
};

/// The items of one worker process. Every route takes the mutex for the
/// whole of its work on the map (a few microseconds), never while it reads
/// a request body or writes a response.
struct Store {
    std::mutex mutex;
    std::map<long long, Item> items;
    long long next_id = 1;
};

/// Every store of this worker process, one per mount of this module (the
/// same module may be mounted twice, each mount with its settings): made by
/// setup, emptied by teardown, once the worker's requests have drained. A
/// real application would close its database pool there.
std::vector<std::shared_ptr<Store>> g_stores;

std::string to_json(const Poco::JSON::Object& object) {
    std::ostringstream out;
    object.stringify(out);
    return out.str();
}

Poco::JSON::Object item_json(long long id, const Item& item) {
    Poco::JSON::Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("id", id);
    o.set("name", item.name);
    o.set("quantity", item.quantity);
    return o;
}

/// The {id} of the route: a decimal number, else no such item (404).
long long item_id(const Request& req) {
    const std::string_view text = req.param("id");
    long long id = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || id <= 0)
        throw RequestError(404, "no item " + std::string(text));
    return id;
}

/// The request body as a JSON object, read through req.body() (a body cut
/// short throws RequestError from the stream, never a short document).
Poco::JSON::Object::Ptr read_object(Request& req, std::size_t max_body) {
    if (req.content_type().substr(0, 16) != "application/json")
        throw RequestError(415, "send the item as application/json");
    const auto length = req.content_length();
    if (!length)
        throw RequestError(411, "a JSON body needs a Content-Length");
    if (*length > max_body)
        throw RequestError(413, "a JSON body holds at most " + std::to_string(max_body) + " bytes");
    Poco::Dynamic::Var value;
    try {
        Poco::JSON::Parser parser;
        value = parser.parse(req.body());
    } catch (const Poco::Exception& e) {
        throw RequestError(400, "malformed JSON: " + e.message());
    }
    if (value.type() != typeid(Poco::JSON::Object::Ptr))
        throw RequestError(400, "the body must be a JSON object");
    return value.extract<Poco::JSON::Object::Ptr>();
}

/// Applies the fields of `body` to `item`; `whole`: a name is required (POST,
/// PUT) and a missing quantity is 0.
void apply(const Poco::JSON::Object& body, Item& item, bool whole) {
    if (body.has("name")) {
        const Poco::Dynamic::Var name = body.get("name");
        if (!name.isString())
            throw RequestError(400, "name must be a string");
        std::string text = name.extract<std::string>();
        if (text.empty() || text.size() > kMaxName)
            throw RequestError(400, "name must hold 1 to 200 bytes");
        item.name = std::move(text);
    } else if (whole) {
        throw RequestError(400, "name is required");
    }
    if (body.has("quantity")) {
        const Poco::Dynamic::Var q = body.get("quantity");
        if (!q.isInteger())
            throw RequestError(400, "quantity must be an integer");
        const long long n = q.convert<long long>();
        if (n < 0 || n > kMaxQuantity)
            throw RequestError(400, "quantity must lie in [0, 1000000000]");
        item.quantity = n;
    } else if (whole) {
        item.quantity = 0;
    }
}

void list(const Settings& s, Store& store, Request& req, Response& res) {
    // get_int refuses ?limit=abc or ?limit=0 with 400, which reaches
    // on_error below like any other error.
    const long long limit = req.query().get_int("limit", s.page_size, 1, 1000);
    const long long offset = req.query().get_int("offset", 0, 0, kMaxQuantity);
    Poco::JSON::Array page;
    std::size_t total = 0;
    {
        const std::lock_guard lock(store.mutex);
        total = store.items.size();
        long long skipped = 0;
        for (const auto& [id, item] : store.items) {
            if (skipped++ < offset)
                continue;
            if (static_cast<long long>(page.size()) == limit)
                break;
            page.add(item_json(id, item));
        }
    }
    Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
    out.set("items", page);
    out.set("total", total);
    out.set("offset", offset);
    out.set("limit", limit);
    res.json(to_json(out));
}

void show(Store& store, Request& req, Response& res) {
    const long long id = item_id(req);
    std::optional<Item> item;
    {
        const std::lock_guard lock(store.mutex);
        if (const auto it = store.items.find(id); it != store.items.end())
            item = it->second;
    }
    if (!item)
        throw RequestError(404, "no item " + std::to_string(id));
    res.json(to_json(item_json(id, *item)));
}

void create(const Settings& s, Store& store, Request& req, Response& res) {
    const auto body = read_object(req, s.max_body);
    Item item;
    apply(*body, item, true);
    long long id = 0;
    {
        const std::lock_guard lock(store.mutex);
        if (store.items.size() >= s.max_items) {
            req.log(postern::Level::warn,
                    "item store full (max-items = " + std::to_string(s.max_items) + ")");
            throw RequestError(409, "the store is full");
        }
        id = store.next_id++;
        store.items.emplace(id, item);
    }
    res.header("Location", std::string(req.script_name()) + "/items/" + std::to_string(id));
    res.json(to_json(item_json(id, item)), 201);
}

/// PUT (whole) and PATCH (the fields given).
void update(const Settings& s, Store& store, bool whole, Request& req, Response& res) {
    const long long id = item_id(req);
    const auto body = read_object(req, s.max_body);
    Item item;
    {
        const std::lock_guard lock(store.mutex);
        const auto it = store.items.find(id);
        if (it == store.items.end())
            throw RequestError(404, "no item " + std::to_string(id));
        item = it->second;
        apply(*body, item, whole);
        it->second = item;
    }
    res.json(to_json(item_json(id, item)));
}

void remove(Store& store, Request& req, Response& res) {
    const long long id = item_id(req);
    {
        const std::lock_guard lock(store.mutex);
        if (store.items.erase(id) == 0)
            throw RequestError(404, "no item " + std::to_string(id));
    }
    res.status(204);
}

postern::Handler setup(const postern::ModuleConfig& config) {
    // get_int throws std::invalid_argument naming the key for a bad value,
    // which stops the gateway's start-up with one line naming this module.
    const Settings s{
        static_cast<std::size_t>(config.get_int("max-items", 1000, 1, 10'000'000)),
        config.get_int("page-size", 20, 1, 1000),
        static_cast<std::size_t>(config.get_int("max-body", 64 * 1024, 64, 16 << 20)),
    };
    auto store = std::make_shared<Store>();
    g_stores.push_back(store);

    postern::Router router;
    router.get("/items", [s, store](Request& req, Response& res) { list(s, *store, req, res); })
        .post("/items", [s, store](Request& req, Response& res) { create(s, *store, req, res); })
        .get("/items/{id}", [store](Request& req, Response& res) { show(*store, req, res); })
        .put("/items/{id}",
             [s, store](Request& req, Response& res) { update(s, *store, true, req, res); })
        .patch("/items/{id}",
               [s, store](Request& req, Response& res) { update(s, *store, false, req, res); })
        .del("/items/{id}", [store](Request& req, Response& res) { remove(*store, req, res); })
        .on_error([](int status, std::string_view reason, Response& res) {
            Poco::JSON::Object error(Poco::JSON_PRESERVE_KEY_ORDER);
            error.set("error", std::string(reason));
            error.set("status", status);
            res.json(to_json(error), status);
        });
    return router;
}

void teardown() {
    for (const auto& store : g_stores) {
        const std::lock_guard lock(store->mutex);
        store->items.clear();
    }
    g_stores.clear();
}

}  // namespace

POSTERN_MODULE(setup, teardown)
