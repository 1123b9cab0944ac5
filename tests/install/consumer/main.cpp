// A program of a user's own, built against an installed Postern: library
// mode on an ephemeral port, serving a Router of its own (a route capture,
// a query integer, a JSON answer) and the form example module built beside
// it (loaded with dlopen and set up through its POSTERN_MODULE entry, as the
// `postern` executable does); a few requests, a check of each answer.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <postern/postern.hpp>
#include <string>

namespace {

/// One request on a fresh connection; the whole answer, head and body.
std::string request(int port, const std::string& text) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        ::close(fd);
        return "";
    }
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        ::close(fd);
        return "";
    }
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0)
        got.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return got;
}

bool check(const std::string& what, const std::string& got, const std::string& status,
           const std::string& body_part) {
    const bool ok =
        got.rfind("HTTP/1.1 " + status, 0) == 0 && got.find(body_part) != std::string::npos;
    if (!ok)
        std::printf("consumer: %s: expected %s with \"%s\", got:\n%s\n", what.c_str(),
                    status.c_str(), body_part.c_str(), got.c_str());
    return ok;
}

}  // namespace

int main() {
    postern::Router router;
    router.get("/hello/{who}", [](postern::Request& req, postern::Response& res) {
        const long long n = req.query().get_int("n", 1, 1, 10);
        res.json("{\"who\": \"" + std::string(req.param("who")) +
                 "\", \"n\": " + std::to_string(n) + "}");
    });

    // The form module: what `postern --mount /form=form.so` does with it.
    void* module = ::dlopen(FORM_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (module == nullptr) {
        std::printf("consumer: cannot load %s: %s\n", FORM_MODULE, ::dlerror());
        return 1;
    }
    using EntryFn = const postern::ModuleEntry* (*)();
    auto entry = reinterpret_cast<EntryFn>(::dlsym(module, "postern_module_v1"));
    if (entry == nullptr || entry()->abi != POSTERN_ABI_VERSION) {
        std::printf("consumer: %s has no POSTERN_MODULE entry of this ABI\n", FORM_MODULE);
        return 1;
    }
    postern::Handler form = entry()->setup(postern::ModuleConfig("/form", FORM_MODULE, {}));

    postern::Options options;
    options.listeners.push_back({"http", "127.0.0.1:0"});
    options.mounts.push_back({"/app", router, "consumer"});
    options.mounts.push_back({"/form", form, "form.so"});
    options.access_log = "off";
    postern::Server server(options);
    server.start();
    const std::string addr = server.listeners().at(0).address;
    const int port = std::stoi(addr.substr(addr.rfind(':') + 1));

    bool ok = check("a route",
                    request(port,
                            "GET /app/hello/a%2Fb?n=3 HTTP/1.1\r\nHost: x\r\n"
                            "Connection: close\r\n\r\n"),
                    "200", "{\"who\": \"a/b\", \"n\": 3}");
    ok &= check(
        "a bad query integer",
        request(port, "GET /app/hello/x?n=11 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        "400", "");
    const std::string fields = "a=1&b=x+y";
    ok &= check("the form module",
                request(port,
                        "POST /form/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\n"
                        "Content-Length: " +
                            std::to_string(fields.size()) + "\r\n\r\n" + fields),
                "200", "a: 1\nb: x y\n");
    server.stop();
    if (ok)
        std::printf(
            "consumer: served a Router and the form module through the installed library\n");
    return ok ? 0 : 1;
}
