// What profile.cc, profile_learn.cc and cachegen.cc share about a profile's planes.
#pragma once

#include "codec/plane_basis.h"
#include "codec/tables.h"
#include "kvforge/codec/profile.h"

namespace kvforge::codec {

// The transform of plane (layer, kv): weights and basis blocks point into `d`.
PlaneBasis basis_of(const Profile::Data& d, int layer, int kv);

// A level's rows, flags and step of plane (layer, kv), pointing into `lt`.
cachegen::PlaneTables plane_tables(const Profile::LevelTables& lt, int layer, int kv, size_t channels);

// A layer's channels together when there are few (<= 64); else the largest divisor
// of head_dim <= 8.
int default_block(const KvShape& s);
// A block covers whole heads or lies within one (the transform copies runs of
// contiguous channels), divides the channels and is at most kMaxBasisBlock.
bool valid_block(int block, int head_dim, int channels);

}  // namespace kvforge::codec
