// Example: an HTML form, a cookie and a redirect. Mounted at /form
// (`--mount /form=form.so`):
//
//   GET  /form/          the form (a name and a favourite colour)
//   POST /form/          checks the fields; a mistake shows the form again
//                        (422) with what was typed, escaped; otherwise sets
//                        the cookie `visitor` and redirects (303, "see
//                        other": the browser follows with a GET, so a reload
//                        does not post twice) to /form/hello
//   GET  /form/hello     greets the visitor named by the cookie, or sends
//                        them back to the form
//   POST /form/forget    deletes the cookie (Max-Age=0), back to the form
//   POST /form/echo      the fields of any urlencoded form, one "name: value"
//                        line each, in order (the bench's `form` workload)
//
// Every piece of request data written into HTML goes through html_escape() first.
// The cookie holds the name percent-encoded (a cookie value cannot hold a
// space, a quote, ',', ';' or '\'); it is read back with the toolkit's own
// decoding (Params::parse_urlencoded).
#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include <postern/postern.hpp>

namespace {

using postern::html_escape;
using postern::Request;
using postern::RequestError;
using postern::Response;

constexpr std::string_view kCookie = "visitor";
constexpr std::array<std::string_view, 4> kColours{"red", "green", "blue", "other"};

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3),
/// which leaves valid cookie-octets.
std::string percent_encode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto b = static_cast<unsigned char>(c);
        if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
            b == '-' || b == '.' || b == '_' || b == '~') {
            out += c;
        } else {
            out += '%';
            out += kHex[b >> 4];
            out += kHex[b & 0xF];
        }
    }
    return out;
}

/// The mount's own path, for links, redirects and the cookie's Path.
std::string base(const Request& req) {
    return std::string(req.script_name());
}

void page(Response& res, std::string_view title, const std::string& body) {
    res.header("Content-Type", "text/html; charset=utf-8");
    res.write("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>");
    res.write(html_escape(title));
    res.write("</title></head>\n<body>\n");
    res.write(body);
    res.write("</body></html>\n");
}

void show_form(const Request& req, Response& res, std::string_view name, std::string_view colour,
               const std::string& problem) {
    std::string body = "<h1>Who are you?</h1>\n";
    if (!problem.empty())
        body += "<p class=\"error\">" + html_escape(problem) + "</p>\n";
    body += "<form method=\"post\" action=\"" + html_escape(base(req)) + "/\">\n";
    body += "<label>Name <input name=\"name\" maxlength=\"60\" value=\"" + html_escape(name) +
            "\"></label>\n<label>Favourite colour <select name=\"colour\">\n";
    for (const auto c : kColours) {
        body += "<option" + std::string(c == colour ? " selected" : "") + ">" + html_escape(c) +
                "</option>\n";
    }
    body += "</select></label>\n<button>Go</button>\n</form>\n";
    page(res, "Who are you?", body);
}

void get_form(Request& req, Response& res) {
    show_form(req, res, "", "blue", "");
}

void post_form(Request& req, Response& res) {
    // form() reads the urlencoded body once (415 for another type, 413 past
    // Request::kMaxFormBytes, 400 for a malformed %-escape).
    const postern::Params& form = req.form();
    const std::string_view name = form.get("name", "");
    const std::string_view colour = form.get("colour", "");
    std::string problem;
    if (name.empty() || name.size() > 60)
        problem = "Please give a name of 1 to 60 bytes.";
    else if (std::find(kColours.begin(), kColours.end(), colour) == kColours.end())
        problem = "Please pick one of the colours offered.";
    if (!problem.empty()) {
        res.status(422);
        show_form(req, res, name, colour, problem);
        return;
    }
    postern::Cookie cookie;
    cookie.name = std::string(kCookie);
    cookie.value = percent_encode(name) + "." + std::string(colour);
    cookie.path = base(req).empty() ? "/" : base(req);
    cookie.max_age = 30 * 24 * 3600;
    cookie.http_only = true;
    cookie.same_site = postern::SameSite::lax;
    res.set_cookie(cookie);
    res.redirect(base(req) + "/hello", 303);
}

void hello(Request& req, Response& res) {
    const auto cookie = req.cookie(kCookie);
    const auto dot = cookie ? cookie->rfind('.') : std::string_view::npos;
    if (dot == std::string_view::npos) {
        res.redirect(base(req) + "/", 302);
        return;
    }
    // "Ann%20Lee.blue": the name decoded as a form value would be. A cookie
    // the client forged with a bad %-escape is a 400, from the toolkit.
    const auto decoded =
        postern::Params::parse_urlencoded("n=" + std::string(cookie->substr(0, dot)));
    const std::string_view name = decoded.get("n", "");
    const std::string_view colour = cookie->substr(dot + 1);
    std::string body = "<h1>Hello, " + html_escape(name) + "!</h1>\n<p>Your colour is " +
                       html_escape(colour) + ".</p>\n<form method=\"post\" action=\"" +
                       html_escape(base(req)) + "/forget\"><button>Forget me</button></form>\n";
    page(res, "Hello", body);
}

void forget(Request& req, Response& res) {
    postern::Cookie cookie;
    cookie.name = std::string(kCookie);
    cookie.path = base(req).empty() ? "/" : base(req);
    cookie.max_age = 0;  // deletes it
    res.set_cookie(cookie);
    res.redirect(base(req) + "/", 303);
}

/// The decoded fields, in the order they came.
void echo(Request& req, Response& res) {
    res.header("Content-Type", "text/plain; charset=utf-8");
    std::string out;
    for (const auto& [name, value] : req.form()) {
        out += name;
        out += ": ";
        out += value;
        out += '\n';
    }
    res.write(out);
}

postern::Handler setup(const postern::ModuleConfig&) {
    postern::Router router;
    router.get("/", get_form)
        .post("/", post_form)
        .get("/hello", hello)
        .post("/forget", forget)
        .post("/echo", echo);
    return router;
}

}  // namespace

POSTERN_MODULE(setup)
