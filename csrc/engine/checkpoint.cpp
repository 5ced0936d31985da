// Network checkpoints: copies of the weights, the optimizer state and the step count in
// two slots, for fit's divergence guard (python/fastmlp/_divergence.py), which puts back
// the last weights whose loss was sane. Kept in C++ so a snapshot is one memcpy per
// buffer and no Python objects: fit takes one at every call, and sklearn-style loops call
// fit once per epoch.
#include <cstring>

#include "engine/network.h"

namespace fastmlp {
namespace engine {

// Every parameter's buffers in one fixed order (weights, optimizer slots 0 .. kOptSlots - 1;
// nullptr for a slot the optimizer does not keep), each of `count` floats.
std::vector<Network::BufferRef> Network::state_buffers() {
  std::vector<BufferRef> out;
  for (Param& p : params_) {
    const size_t count = static_cast<size_t>(p.rows * p.cols);
    out.push_back({p.buf->data(), count});
    out.push_back({p.s0 ? p.s0->data() : nullptr, count});
    out.push_back({p.s1 ? p.s1->data() : nullptr, count});
    out.push_back({p.s2 ? p.s2->data() : nullptr, count});
  }
  return out;
}

void Network::save_checkpoint(int slot) {
  Checkpoint& c = checkpoints_[slot];
  const std::vector<BufferRef> bufs = state_buffers();
  size_t n = 0;
  c.layout.clear();
  for (const BufferRef& b : bufs) {
    c.layout.push_back(b.data != nullptr);
    if (b.data) n += b.count;
  }
  c.values.resize(n);  // reused across calls: no allocation once sized
  float* dst = c.values.data();
  for (const BufferRef& b : bufs) {
    if (!b.data) continue;
    std::memcpy(dst, b.data, sizeof(float) * b.count);
    dst += b.count;
  }
  c.step = step_;
  c.valid = true;
}

bool Network::restore_checkpoint(int slot) {
  const Checkpoint& c = checkpoints_[slot];
  if (!c.valid) return false;
  const std::vector<BufferRef> bufs = state_buffers();
  if (bufs.size() != c.layout.size()) return false;
  for (size_t i = 0; i < bufs.size(); ++i)
    if ((bufs[i].data != nullptr) != c.layout[i]) return false;  // another optimizer now
  const float* src = c.values.data();
  for (const BufferRef& b : bufs) {
    if (!b.data) continue;
    std::memcpy(b.data, src, sizeof(float) * b.count);
    src += b.count;
  }
  step_ = c.step;
  version_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

void Network::discard_checkpoints() {
  for (Checkpoint& c : checkpoints_) c = Checkpoint{};
}

int64_t Network::checkpoint_bytes() const {
  int64_t n = 0;
  for (const Checkpoint& c : checkpoints_) n += static_cast<int64_t>(c.values.capacity());
  return n * static_cast<int64_t>(sizeof(float));
}

}  // namespace engine
}  // namespace fastmlp
