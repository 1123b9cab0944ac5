// postern-man DIR: writes the manual pages DIR/postern.8 and
// DIR/postern-cgi.8 (man_page.hpp). Run by the build; installed nowhere.
#include <cstdio>
#include <fstream>
#include <string>

#include "man_page.hpp"

namespace {

bool write(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
        std::fprintf(stderr, "postern-man: cannot write %s\n", path.c_str());
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fputs("usage: postern-man DIR\n", stderr);
        return 2;
    }
    const std::string dir = argv[1];
    const bool ok = write(dir + "/postern.8", postern::man::postern_page()) &&
                    write(dir + "/postern-cgi.8", postern::man::postern_cgi_page());
    return ok ? 0 : 1;
}
