// The manual pages (gateway/main/man_page.cpp), `postern --help` (usage())
// and README's option table say the same options with the same arguments.
#include "man_page.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "cgi/help.hpp"
#include "core/cli.hpp"

namespace {

using Option = std::pair<std::string, std::string>;  // name, argument ("" for a flag)

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string source_dir() {
    return POSTERN_TEST_SOURCE_DIR;
}

std::set<Option> table_options() {
    std::set<Option> out;
    for (const auto& o : postern::option_table())
        out.emplace(o.name, o.arg != nullptr ? o.arg : "");
    return out;
}

/// The options README's table names: every `--name ARG` in the first cell
/// of the rows after the "| option | meaning |" header, to the table's end.
std::set<Option> readme_options(const std::string& readme) {
    std::set<Option> out;
    std::size_t at = readme.find("\n| option | meaning |\n");
    if (at == std::string::npos)
        return out;
    std::istringstream lines(readme.substr(at + 1));
    std::string line;
    std::getline(lines, line);  // the header
    std::getline(lines, line);  // | --- | --- |
    while (std::getline(lines, line) && line.rfind("| ", 0) == 0) {
        const std::string cell = line.substr(2, line.find(" | ", 2) - 2);
        for (std::size_t open = cell.find('`'); open != std::string::npos;
             open = cell.find('`', open + 1)) {
            const std::size_t close = cell.find('`', open + 1);
            if (close == std::string::npos)
                break;
            const std::string code = cell.substr(open + 1, close - open - 1);
            open = close;
            if (code.rfind("--", 0) != 0)
                continue;
            const std::size_t space = code.find(' ');
            out.emplace(code.substr(2, space == std::string::npos ? std::string::npos : space - 2),
                        space == std::string::npos ? "" : code.substr(space + 1));
        }
    }
    return out;
}

std::string describe(const std::set<Option>& options) {
    std::string out;
    for (const auto& [name, arg] : options)
        out += " --" + name + (arg.empty() ? "" : " " + arg);
    return out;
}

std::set<Option> minus(const std::set<Option>& a, const std::set<Option>& b) {
    std::set<Option> out;
    for (const auto& o : a)
        if (b.count(o) == 0)
            out.insert(o);
    return out;
}

TEST(ManPage, HelpAndThePageListEveryOptionOfTheTableWithItsArgument) {
    const std::string help = postern::usage();
    const std::string page = postern::man::postern_page();
    for (const auto& o : postern::option_table()) {
        const std::string name = o.name;
        std::string in_help = "  --" + name + (o.arg != nullptr ? std::string(" ") + o.arg : "");
        EXPECT_NE(help.find(in_help + " "), std::string::npos) << in_help;
        const std::string in_page = o.arg != nullptr
                                        ? ".BI \"" + postern::man::escape("--" + name) + " \" \"" +
                                              postern::man::escape(o.arg) + "\"\n"
                                        : ".B " + postern::man::escape("--" + name) + "\n";
        EXPECT_NE(page.find(".TP\n" + in_page + postern::man::escape(o.help) + "\n"),
                  std::string::npos)
            << in_page;
    }
}

TEST(ManPage, ReadmesOptionTableNamesExactlyTheOptionsOfHelp) {
    const std::set<Option> readme = readme_options(read_file(source_dir() + "/README.md"));
    const std::set<Option> table = table_options();
    ASSERT_FALSE(readme.empty()) << "no option table in README.md";
    EXPECT_TRUE(minus(table, readme).empty())
        << "in postern --help, not in README's table:" << describe(minus(table, readme));
    EXPECT_TRUE(minus(readme, table).empty())
        << "in README's table, not in postern --help:" << describe(minus(readme, table));
}

TEST(ManPage, TheReadmeCheckSeesAnArgumentThatDrifted) {
    const std::string readme =
        "x\n| option | meaning |\n| --- | --- |\n"
        "| `--app MODULE.so` | a |\n"
        "| `--allow-uid USER`, `--allow-gid GROUP` | b |\n"
        "| `--help`, `--version` | |\n\nafter\n| `--not-in-table X` | |\n";
    const std::set<Option> want = {{"app", "MODULE.so"},
                                   {"allow-uid", "USER"},
                                   {"allow-gid", "GROUP"},
                                   {"help", ""},
                                   {"version", ""}};
    EXPECT_EQ(readme_options(readme), want);
    const std::set<Option> drifted =
        readme_options("\n| option | meaning |\n| --- | --- |\n| `--app FILE.so` | a |\n");
    EXPECT_EQ(minus(drifted, table_options()).size(), 1u);
}

TEST(ManPage, TheBuiltPageIsThePageOfThisTable) {
    const char* bin = POSTERN_TEST_BINARY_DIR;
    EXPECT_EQ(read_file(std::string(bin) + "/man/postern.8"), postern::man::postern_page());
    EXPECT_EQ(read_file(std::string(bin) + "/man/postern-cgi.8"), postern::man::postern_cgi_page());
}

TEST(ManPage, PosternCgisPageShowsItsHelp) {
    const std::string page = postern::man::postern_cgi_page();
    std::istringstream help(postern::cgi::kHelp);
    std::string line;
    while (std::getline(help, line))
        EXPECT_NE(page.find("\n" + postern::man::escape(line) + "\n"), std::string::npos) << line;
    EXPECT_NE(page.find("POSTERN_MODULE"), std::string::npos);
}

TEST(ManPage, EscapeKeepsRoffFromReadingTextAsRequests) {
    EXPECT_EQ(postern::man::escape("--a\\b"), "\\-\\-a\\eb");
    EXPECT_EQ(postern::man::escape(".TH x"), "\\&.TH x");
    EXPECT_EQ(postern::man::escape("'x"), "\\&'x");
}

}  // namespace
