// The fingerprints a run manifest records for each data file: sha256 (what --resume checks) and
// md5, the hash DVC writes into .dvc files (`outs: - md5:`), so that a run can be matched to a
// DVC-tracked version of its data. DVC 3 hashes a file's bytes as they are (hash: md5); DVC 2
// turned CRLF into LF in files it took for text first ("md5-dos2unix", which DVC 3 still reads
// in old .dvc files without a `hash:` field), so for a file with CRLF line ends only DVC 3's
// md5 equals this one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::data {

struct FileHashes {
  std::string md5, sha256;  // lowercase hex
  uint64_t size = 0;        // bytes
};

// Reads the file once for both digests; throws kiln::Error naming it if it cannot be read.
FileHashes hash_file(const std::string& path);

std::string md5_hex(std::string_view bytes);

}  // namespace kiln::data
