#include "http/http_environ.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/environ.hpp"
#include "core/text.hpp"

namespace postern::http {

namespace {

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool is_ip_address(std::string_view s) {
    if (s.empty() || s.size() >= INET6_ADDRSTRLEN)
        return false;
    std::string text(s);
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, text.c_str(), buf) == 1 ||
           ::inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// The last element of a comma-separated list.
std::string_view last_element(std::string_view list) {
    std::size_t comma = list.rfind(',');
    return trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1));
}

bool is_port(std::string_view s) {
    if (s.empty() || s.size() > 5)
        return false;
    unsigned n = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    return n >= 1 && n <= 65535;
}

}  // namespace

std::string forwarded_client(std::string_view forwarded_for, const AddressList& trusted_proxies) {
    std::string_view leftmost;
    std::string_view rest = forwarded_for;
    while (!rest.empty()) {
        std::size_t comma = rest.rfind(',');
        std::string_view entry =
            trim_ows(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
        if (entry.empty())
            continue;  // "a,,b": an empty list element (RFC 9110 §5.6.1)
        if (!is_ip_address(entry))
            return {};
        if (!trusted_proxies.contains(entry))
            return std::string(entry);
        leftmost = entry;
    }
    return std::string(leftmost);
}

Environ request_environ(const RequestHead& head, const Peer& peer,
                        const AddressList& trusted_proxies) {
    Environ env;
    env.reserve(head.fields.size() + 12);
    env.emplace_back("REQUEST_METHOD", std::string(head.method));

    std::string uri;
    if (head.path.empty() || head.path.front() == '?')
        uri = "/";
    uri += head.path;
    std::string_view query;
    if (std::size_t q = head.path.find('?'); q != std::string_view::npos)
        query = head.path.substr(q + 1);
    env.emplace_back("QUERY_STRING", std::string(query));
    env.emplace_back("REQUEST_URI", std::move(uri));
    env.emplace_back("SERVER_PROTOCOL", head.minor == 0 ? "HTTP/1.0" : "HTTP/1.1");

    std::string server_name = host_without_port(head.authority);
    if (server_name.empty()) {
        if (peer.unix_socket || peer.local_addr.empty())
            server_name = "localhost";
        else if (peer.local_addr.find(':') != std::string::npos)
            server_name = "[" + peer.local_addr + "]";
        else
            server_name = peer.local_addr;
    }
    env.emplace_back("SERVER_NAME", std::move(server_name));

    std::string remote_addr = peer.addr;
    std::string server_port = peer.local_port;
    std::string remote_port = peer.port;
    bool https = false;
    if (!trusted_proxies.empty() && trusted_proxies.contains(peer.addr)) {
        std::string forwarded_for;
        std::string_view proto;
        std::string_view port;
        for (const Field& f : head.fields) {
            if (iequals(f.name, "x-forwarded-for")) {
                if (!forwarded_for.empty())
                    forwarded_for += ',';
                forwarded_for += f.value;
            } else if (iequals(f.name, "x-forwarded-proto")) {
                proto = last_element(f.value);
            } else if (iequals(f.name, "x-forwarded-port")) {
                port = last_element(f.value);
            }
        }
        if (std::string client = forwarded_client(forwarded_for, trusted_proxies);
            !client.empty()) {
            remote_addr = std::move(client);
            // The client's port is not forwarded; the proxy's own would be
            // a port of another host.
            remote_port.clear();
        }
        https = iequals(proto, "https");
        if (is_port(port))
            server_port = std::string(port);
    }
    env.emplace_back("SERVER_PORT", std::move(server_port));
    env.emplace_back("REMOTE_ADDR", std::move(remote_addr));
    env.emplace_back("REMOTE_PORT", std::move(remote_port));
    if (https)
        env.emplace_back("HTTPS", "on");

    // RFC 9110 §7.8: a client sends Upgrade with the "upgrade" option in
    // Connection, which this adapter consumed; without it the field is
    // not a request to switch protocols, and does not reach the callback
    // as one (HTTP_UPGRADE then stands for both: WebSocket::accept).
    for (const Field& f : head.fields)
        if (head.upgrade || !iequals(f.name, "upgrade"))
            add_header(env, f.name, f.value);
    return env;
}

}  // namespace postern::http
