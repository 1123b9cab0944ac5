// The manual pages postern(8) and postern-cgi(8), in roff (man(7)).
//
// postern(8)'s OPTIONS come from the one option table of the command line
// (core/cli.hpp, option_table()), the one `postern --help` prints, and
// postern-cgi(8)'s settings from the text `postern-cgi --help` prints
// (adapters/cgi/help.hpp); the other sections (signals, files, exit status,
// examples) are written here once. The build writes both pages with
// postern-man (man_main.cpp); tests/gateway/man_page_test.cpp checks them,
// --help and README's option table against each other.
#pragma once

#include <string>
#include <string_view>

namespace postern::man {

/// Text escaped for a roff line: backslashes, '-' as \- (options are typed
/// as minus signs), and a leading '.' or '\'' made literal.
std::string escape(std::string_view text);

/// postern(8).
std::string postern_page();

/// postern-cgi(8).
std::string postern_cgi_page();

}  // namespace postern::man
