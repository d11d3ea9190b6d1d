#include "engine/base/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rewoo {
namespace {

// Reads fd to its end.
Result<std::string> read_fd(int fd, const std::string& what, const std::string& where) {
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error("cannot read " + what + ": " + std::strerror(errno), where);
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

Result<std::string> read_whole_file(const std::filesystem::path& path, const std::string& what) {
  if (path == "-") {
    struct stat st {};
    if (::fstat(0, &st) != 0) return Error("cannot read " + what + " from standard input: it is closed");
    if (S_ISDIR(st.st_mode))
      return Error("cannot read " + what + " from standard input: it is a directory");
    return read_fd(0, what, "<stdin>");
  }
  const std::string where = path.string();
  struct stat st {};
  if (::stat(where.c_str(), &st) != 0)
    return Error("cannot read " + what + ": " + std::strerror(errno), where);
  // (Pipes are fine: `rewoo plan check <(...)`.)
  if (S_ISDIR(st.st_mode)) return Error(what + " is a directory, not a file", where);
  const int fd = ::open(where.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error("cannot read " + what + ": " + std::strerror(errno), where);
  auto r = read_fd(fd, what, where);
  ::close(fd);
  return r;
}

}  // namespace rewoo
