// The closed set of primitive ops. Each op's .cpp file defines its OpInfo with KILN_OP; the op test
// harness (tests/core/op_harness_test.cpp) fails if any registered op has no harness case, so an op
// cannot be added without being checked forward (against an f64 reference) and backward (against
// finite differences).
#pragma once

#include <string>
#include <vector>

namespace kiln {

struct OpInfo {
  const char* name;
  bool differentiable;
};

class OpRegistry {
 public:
  static void add(const OpInfo* op);
  static std::vector<const OpInfo*> all();
  static const OpInfo* find(const std::string& name);
};

struct OpRegistrar {
  explicit OpRegistrar(const OpInfo* op) { OpRegistry::add(op); }
};

}  // namespace kiln

// KILN_OP(ident, "name", differentiable): defines `const OpInfo ident` and registers it.
#define KILN_OP(ident, name, differentiable)        \
  const ::kiln::OpInfo ident{name, differentiable}; \
  static ::kiln::OpRegistrar ident##_registrar(&ident)
