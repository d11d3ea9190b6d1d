// `rewoo extract` and `rewoo fetch` usage errors, as a user meets them
// (build/rewoo; nothing here touches the network).
#include <doctest/doctest.h>

#include <string>

#include "tests/test_util.h"

namespace {

// `rewoo <args>` with `input` on stdin.
int run_rewoo(const std::string& args, std::string* out, const std::string& input = "") {
  return rewoo::test::run_command("(printf '%s' '" + input + "' | " +
                                      (rewoo::test::binary_dir() / "rewoo").string() + " " + args +
                                      ")",
                                  out);
}

const std::string kLink = "<a href=\"x\">x</a>";

}  // namespace

TEST_CASE("cli: extract and fetch refuse bad arguments with exit 2 and say why") {
  std::string out;
  CHECK(run_rewoo("extract - --links --url https://a.org/b/", &out, kLink) == 0);
  CHECK(out == "https://a.org/b/x\n");
  // A base URL that is not one used to drop every relative link silently.
  CHECK(run_rewoo("extract - --links --url notaurl", &out, kLink) == 2);
  CHECK(out.find("--url: 'notaurl' is not an absolute URL") != std::string::npos);
  rewoo::test::TempDir tmp;
  CHECK(run_rewoo("extract '" + tmp.path().string() + "'", &out) == 2);
  CHECK(out.find("the HTML file is a directory, not a file") != std::string::npos);
  // 0 and negative limits used to fall back to 30 s without a word.
  for (const char* t : {"0", "-5", "600001"}) {
    CHECK_MESSAGE(run_rewoo(std::string("fetch --timeout-ms ") + t + " http://127.0.0.1:9/", &out) == 2,
                  t);
    CHECK(out.find("--timeout-ms") != std::string::npos);
  }
}
