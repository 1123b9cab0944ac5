// A program of a user's own, built against an installed Postern: library
// mode on an ephemeral port, one request, a check of the answer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <postern/postern.hpp>
#include <string>

int main() {
    postern::Options options;
    options.listeners.push_back({"http", "127.0.0.1:0"});
    options.mounts.push_back({"/",
                              [](postern::Request&, postern::Response& res) {
                                  res.header("Content-Type", "text/plain");
                                  res.write("consumer ok\n");
                              },
                              "consumer"});
    options.access_log = "off";
    postern::Server server(options);
    server.start();
    std::string addr = server.listeners().at(0).address;
    int port = std::stoi(addr.substr(addr.rfind(':') + 1));
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
        return 1;
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size()))
        return 1;
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0)
        got.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    server.stop();
    bool ok = got.rfind("HTTP/1.1 200", 0) == 0 && got.find("consumer ok\n") != std::string::npos;
    std::printf("%s\n",
                ok ? "consumer: served a request through the installed library" : got.c_str());
    return ok ? 0 : 1;
}
