// What every AMX kernel shares: the process's permission for the tile state, and one tile
// configuration. The bf16 GEMM (TDPBF16PS) and the int8 linear layer (TDPBUSD) may run on the
// same thread one after the other, so they agree on a single layout instead of reconfiguring:
// all 8 tiles 16 rows x 64 bytes.
#pragma once

namespace kiln::gemm::amx {

// Linux hands out the AMX tile data state only to processes that ask (ARCH_REQ_XCOMP_PERM); asked
// once per process.
bool amx_usable();

// Loads the shared configuration on this thread the first time it is called there.
void configure_tiles();

}  // namespace kiln::gemm::amx
