// Whole-file reads with errors that say which file and why: missing, a
// directory, unreadable. (Streams reading a directory throw from deep
// inside the standard library, with no file name.)
#pragma once

#include <filesystem>
#include <string>

#include "engine/base/result.h"

namespace rewoo {

// The bytes of `path`; "-" reads standard input. `what` names the file in
// messages ("the plan file", "the task file"); errors carry the path.
Result<std::string> read_whole_file(const std::filesystem::path& path,
                                    const std::string& what = "the file");

}  // namespace rewoo
