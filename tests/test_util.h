// Helpers shared by the test binaries: where the data is, temporary folders.
#pragma once

#include <filesystem>
#include <string>

namespace rewoo::test {

// The shared test data (REWOO_TEST_DATA_DIR in CMake: ../shared/data beside
// the checkout or beside the repository it was cloned from; see its README).
std::filesystem::path data_dir();
// The repository root.
std::filesystem::path source_dir();
// The build folder (where build/rewoo lives).
std::filesystem::path binary_dir();
// The Llama 2 SentencePiece model in the shared data.
std::filesystem::path llama2_tokenizer();
// Reads a whole file; throws if it cannot.
std::string read_file(const std::filesystem::path& p);

// A fresh temporary folder, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The committed demo model (tests/data/demo/model).
std::filesystem::path demo_model_dir();
// A copy of the demo corpus at dir/corpus without any search index, so that
// the local backend builds its index outside the checkout. Returns the copy.
std::filesystem::path copy_demo_corpus(const TempDir& dir);

// Runs a shell command, returns its exit status; stdout+stderr go to *output.
int run_command(const std::string& cmd, std::string* output = nullptr);

}  // namespace rewoo::test
