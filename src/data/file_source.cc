// Image files as samples: a listing made once at open (paths, labels, sizes), files read whole
// with pread on each access.
#include "data/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "core/error.h"
#include "data/corrupt.h"

namespace scaledl {

namespace fs = std::filesystem;

namespace {

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

struct Entry {
  std::string path, key;
  int32_t label = 0;
  uint64_t bytes = 0;
};

class FileSource final : public SampleSource {
 public:
  FileSource(std::vector<Entry> entries, std::vector<std::string> names, std::string desc)
      : entries_(std::move(entries)), names_(std::move(names)), desc_(std::move(desc)) {}
  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  int classes() const override { return static_cast<int>(names_.size()); }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string key(int64_t i) const override { return at(i).key; }
  int32_t label(int64_t i) const override { return at(i).label; }
  uint64_t stored_bytes(int64_t i) const override { return at(i).bytes; }
  uint64_t read(int64_t i, Record& out, std::vector<uint8_t>&) const override {
    const Entry& e = at(i);
    const int fd = ::open(e.path.c_str(), O_RDONLY | O_CLOEXEC);
    const FdCloser closer{fd};
    if (fd < 0)
      throw DataCorrupt(e.path + ": cannot open (" + std::strerror(errno) + "), sample " +
                        std::to_string(i) + "; restore the file or pass --skip-corrupt N");
    out.image.resize(e.bytes + 1);  // the spare byte: an unchanged file ends in one short read
    uint64_t got = 0;
    while (true) {  // read to the end, growing past the listed size if the file grew
      if (got == out.image.size()) out.image.resize(out.image.size() + 65536);
      const ssize_t n = ::pread(fd, out.image.data() + got, out.image.size() - got,
                                static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        throw DataCorrupt(e.path + ": read failed at byte offset " + std::to_string(got) + " (" +
                          std::strerror(err) + "); check the disk or pass --skip-corrupt N");
      }
      if (n == 0) break;
      got += static_cast<uint64_t>(n);
    }
    out.image.resize(got);
    out.key = e.key;
    out.labels.assign(1, e.label);
    out.encoding = ImageEncoding::jpeg;
    out.height = out.width = out.channels = 0;
    return got;
  }
  std::string where(int64_t i) const override { return at(i).path; }
  std::string describe() const override { return desc_; }

 private:
  const Entry& at(int64_t i) const { return entries_[static_cast<size_t>(i)]; }
  std::vector<Entry> entries_;
  std::vector<std::string> names_;
  std::string desc_;
};

bool is_jpeg_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg";
}

}  // namespace

SourcePtr folder_source(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("data", dir + ": no such folder; folder:DIR needs DIR/<class>/<image>.jpg");
  std::vector<std::string> classes;
  for (const fs::directory_entry& d : fs::directory_iterator(dir, ec))
    if (d.is_directory()) classes.push_back(d.path().filename().string());
  if (ec) throw Error("data", dir + ": cannot list (" + ec.message() + ")");
  std::sort(classes.begin(), classes.end());
  if (classes.empty())
    throw Error("data", dir + ": has no class subfolders; folder:DIR needs DIR/<class>/<image>.jpg");
  std::vector<Entry> entries;
  for (size_t k = 0; k < classes.size(); ++k) {
    std::vector<Entry> files;
    for (const fs::directory_entry& f : fs::directory_iterator(fs::path(dir) / classes[k], ec)) {
      if (!f.is_regular_file() || !is_jpeg_name(f.path())) continue;
      Entry e;
      e.path = f.path().string();
      e.key = classes[k] + "/" + f.path().filename().string();
      e.label = static_cast<int32_t>(k);
      e.bytes = f.file_size();
      files.push_back(std::move(e));
    }
    if (ec) throw Error("data", (fs::path(dir) / classes[k]).string() + ": cannot list (" + ec.message() + ")");
    std::sort(files.begin(), files.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
    std::move(files.begin(), files.end(), std::back_inserter(entries));
  }
  if (entries.empty())
    throw Error("data", dir + ": its " + std::to_string(classes.size()) +
                            " class folders hold no .jpg/.jpeg files");
  const std::string desc = "folder:" + dir + " (" + std::to_string(entries.size()) + " images)";
  return std::make_shared<FileSource>(std::move(entries), std::move(classes), desc);
}

SourcePtr csv_source(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw Error("data", file + ": cannot open (" + std::strerror(errno) + "); check csv:FILE");
  const fs::path base = fs::path(file).parent_path();
  std::vector<Entry> entries;
  int32_t max_label = -1;
  std::string line;
  for (int64_t no = 1; std::getline(in, line); ++no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (no == 1 && line.rfind("path,", 0) == 0)) continue;
    const size_t comma = line.rfind(',');
    Entry e;
    bool ok = comma != std::string::npos && comma > 0;
    if (ok) {
      try {
        size_t used = 0;
        const std::string lab = line.substr(comma + 1);
        const long v = std::stol(lab, &used);
        ok = used == lab.size() && v >= 0 && v < (1L << 30);
        e.label = static_cast<int32_t>(v);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok)
      throw Error("data", file + ": line " + std::to_string(no) + " '" + line +
                              "' is not 'path,label' with an integer label >= 0");
    e.key = line.substr(0, comma);
    const fs::path p(e.key);
    e.path = (p.is_absolute() ? p : base / p).string();
    std::error_code ec;
    e.bytes = fs::file_size(e.path, ec);
    if (ec)
      throw Error("data", file + ": line " + std::to_string(no) + ": " + e.path + ": " +
                              ec.message() + "; fix the list or the path");
    max_label = std::max(max_label, e.label);
    entries.push_back(std::move(e));
  }
  if (entries.empty()) throw Error("data", file + ": lists no images; want lines 'path,label'");
  std::vector<std::string> names;
  for (int32_t k = 0; k <= max_label; ++k) names.push_back(std::to_string(k));
  const std::string desc = "csv:" + file + " (" + std::to_string(entries.size()) + " images)";
  return std::make_shared<FileSource>(std::move(entries), std::move(names), desc);
}

}  // namespace scaledl
