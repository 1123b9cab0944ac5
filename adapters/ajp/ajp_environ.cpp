#include "ajp/ajp_environ.hpp"

#include <algorithm>

#include "core/environ.hpp"

namespace postern::ajp {

Environ request_environ(const ForwardRequest& req, const Peer& peer,
                        const std::vector<std::string>& allowed) {
    Environ env;
    env.reserve(req.headers.size() + 14);
    env.emplace_back("REQUEST_METHOD", req.method);
    std::string uri = req.req_uri.empty() ? std::string("/") : req.req_uri;
    const std::string query = req.query_string.value_or("");
    if (!query.empty())
        uri += "?" + query;
    env.emplace_back("QUERY_STRING", query);
    env.emplace_back("REQUEST_URI", std::move(uri));
    env.emplace_back("SERVER_PROTOCOL", req.protocol.empty() ? "HTTP/1.1" : req.protocol);
    env.emplace_back("SERVER_NAME", req.server_name);
    env.emplace_back("SERVER_PORT", std::to_string(req.server_port));
    env.emplace_back("REMOTE_ADDR", req.remote_addr.empty() ? peer.addr : req.remote_addr);
    std::string remote_port;
    for (const auto& [name, value] : req.attributes) {
        if (name == "AJP_REMOTE_PORT")
            remote_port = value;
        else if (name == "AJP_LOCAL_ADDR")
            set_var(env, "SERVER_ADDR", value);
    }
    env.emplace_back("REMOTE_PORT", std::move(remote_port));
    if (!req.remote_host.empty() && req.remote_host != req.remote_addr)
        env.emplace_back("REMOTE_HOST", req.remote_host);
    if (req.is_ssl)
        env.emplace_back("HTTPS", "on");
    if (req.remote_user)
        env.emplace_back("REMOTE_USER", *req.remote_user);
    if (req.auth_type)
        env.emplace_back("AUTH_TYPE", *req.auth_type);
    if (req.ssl_cipher)
        env.emplace_back("SSL_CIPHER", *req.ssl_cipher);
    if (req.ssl_session)
        env.emplace_back("SSL_SESSION_ID", *req.ssl_session);
    if (req.ssl_key_size)
        env.emplace_back("SSL_CIPHER_USEKEYSIZE", std::to_string(*req.ssl_key_size));
    if (req.ssl_cert)
        env.emplace_back("SSL_CLIENT_CERT", *req.ssl_cert);
    for (const auto& [name, value] : req.headers)
        add_header(env, name, value);
    for (const auto& [name, value] : req.attributes) {
        if (std::find(allowed.begin(), allowed.end(), name) != allowed.end())
            set_var(env, "AJP_ATTR_" + name, value);
    }
    return env;
}

}  // namespace postern::ajp
