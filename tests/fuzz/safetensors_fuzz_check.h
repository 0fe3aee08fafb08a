// The property both the libFuzzer target and the deterministic GoogleTest check on arbitrary bytes:
// parse_safetensors_header either throws kiln::Error, or returns a header whose every promise holds
// (tensors tile the data section exactly, sizes match shapes, data pointers stay inside the buffer)
// and which survives a round trip through the writer. Any other exception escapes to the caller.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/io/safetensors_header.h"
#include "core/io/safetensors_writer.h"

namespace kiln::io::fuzz {

struct CheckResult {
  bool accepted = false;
  std::string violation;  // non-empty: a bug in the parser or writer
};

inline CheckResult check_safetensors_bytes(const uint8_t* data, size_t size) {
  CheckResult r;
  SafetensorsHeader h;
  try {
    h = parse_safetensors_header(data, size, size, "fuzz");
  } catch (const Error&) {
    return r;
  }
  r.accepted = true;
  const auto fail = [&](std::string what) {
    r.violation = std::move(what);
    return r;
  };
  if (h.data_offset != 8 + h.header_size || h.data_offset > size || h.file_size != size)
    return fail("inconsistent header sizes");
  std::vector<const TensorEntry*> sorted;
  for (const auto& t : h.tensors) {
    if (t.shape.size() > ParseLimits{}.max_rank) return fail("rank above the cap: " + t.name);
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) return fail("negative dimension accepted: " + t.name);
      numel *= static_cast<uint64_t>(d);  // cannot wrap: the parser checked it
    }
    if (static_cast<uint64_t>(t.numel) != numel) return fail("numel mismatch: " + t.name);
    if (numel * file_dtype_size(t.dtype) != t.nbytes()) return fail("nbytes mismatch: " + t.name);
    if (t.data != data + h.data_offset + t.data_begin) return fail("bad data pointer: " + t.name);
    if (t.data_end > h.data_size()) return fail("data past the end: " + t.name);
    sorted.push_back(&t);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
    return a->data_begin != b->data_begin ? a->data_begin < b->data_begin
                                          : a->data_end < b->data_end;
  });
  uint64_t at = 0;
  for (const auto* t : sorted) {
    if (t->data_begin != at) return fail("tensors do not tile the data section");
    at = t->data_end;
  }
  if (at != h.data_size()) return fail("data section not fully covered");

  // Round trip: what kiln accepts, kiln can write back, and reading that gives the same header.
  std::vector<TensorToWrite> out;
  for (const auto& t : h.tensors) {
    if (t.name.empty()) return r;  // valid safetensors, but kiln's writer refuses empty names
    out.push_back({t.name, t.dtype, t.shape, t.data, t.nbytes()});
  }
  const auto bytes = encode_safetensors(out, h.metadata);
  const auto back = parse_safetensors_header(bytes.data(), bytes.size(), bytes.size(), "rewrite");
  if (back.metadata != h.metadata || back.tensors.size() != h.tensors.size())
    return fail("round trip changed the header");
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const auto &a = h.tensors[i], &b = back.tensors[i];
    if (a.name != b.name || a.dtype != b.dtype || a.shape != b.shape || a.nbytes() != b.nbytes() ||
        (a.nbytes() && std::memcmp(a.data, b.data, a.nbytes()) != 0))
      return fail("round trip changed tensor " + a.name);
  }
  return r;
}

}  // namespace kiln::io::fuzz
