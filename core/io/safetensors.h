// Everything for safetensors files: the dtypes a file may declare, header parsing, zero-copy
// reading and atomic writing.
#pragma once

#include "core/io/atomic_file.h"
#include "core/io/file_dtype.h"
#include "core/io/mapped_file.h"
#include "core/io/safetensors_header.h"
#include "core/io/safetensors_reader.h"
#include "core/io/safetensors_writer.h"
