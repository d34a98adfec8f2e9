// Internal to the GGUF reader: a model's hyperparameters from `<arch>.*` metadata.
#pragma once

#include <string>

#include "kvforge/core/status.h"
#include "kvforge/model/model_file.h"
#include "model/gguf_metadata.h"

namespace kvforge::model::gguf {

// Fills architecture, RoPE style and the dimensions `arch` (general.architecture)
// keys give; NotSupported names an architecture or RoPE scaling Session cannot run.
Status read_hyperparameters(const Metadata& md, const std::string& arch, const std::string& path, ModelConfig* c);

}  // namespace kvforge::model::gguf
