// The layer kinds the engine knows: one line each (code, name, factory defined in the
// kind's own file). Python reads the names from _core.LAYER_KINDS, so this is the list.
#include <stdexcept>
#include <string>

#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

std::unique_ptr<Layer> make_dense(const LayerSpec& s);
std::unique_ptr<Layer> make_activation(const LayerSpec& s);
std::unique_ptr<Layer> make_rescaling(const LayerSpec& s);
std::unique_ptr<Layer> make_softmax(const LayerSpec& s);
std::unique_ptr<Layer> make_dropout(const LayerSpec& s);
std::unique_ptr<Layer> make_batch_norm(const LayerSpec& s);
std::unique_ptr<Layer> make_layer_norm(const LayerSpec& s);
std::unique_ptr<Layer> make_gaussian_noise(const LayerSpec& s);
std::unique_ptr<Layer> make_dense_int8(const LayerSpec& s);
std::unique_ptr<Layer> make_dense_bf16(const LayerSpec& s);

namespace {

struct KindEntry {
  LayerKind kind;
  const char* name;
  std::unique_ptr<Layer> (*make)(const LayerSpec&);
};

// In code order (entry i has code i).
constexpr KindEntry kKinds[] = {
    {LayerKind::dense, "dense", make_dense},
    {LayerKind::activation, "activation", make_activation},
    {LayerKind::rescaling, "rescaling", make_rescaling},
    {LayerKind::softmax, "softmax", make_softmax},
    {LayerKind::dropout, "dropout", make_dropout},
    {LayerKind::batch_norm, "batch_norm", make_batch_norm},
    {LayerKind::layer_norm, "layer_norm", make_layer_norm},
    {LayerKind::gaussian_noise, "gaussian_noise", make_gaussian_noise},
    {LayerKind::dense_int8, "dense_int8", make_dense_int8},
    {LayerKind::dense_bf16, "dense_bf16", make_dense_bf16},
};
constexpr int kNumKinds = static_cast<int>(sizeof(kKinds) / sizeof(kKinds[0]));

constexpr bool codes_in_order() {
  for (int i = 0; i < kNumKinds; ++i)
    if (static_cast<int>(kKinds[i].kind) != i) return false;
  return true;
}
static_assert(codes_in_order(), "kKinds lists the kinds in code order");

const KindEntry* find(LayerKind kind) {
  const int code = static_cast<int>(kind);
  if (code < 0 || code >= kNumKinds) return nullptr;
  return &kKinds[code];
}

}  // namespace

std::unique_ptr<Layer> make_layer(const LayerSpec& s) {
  const KindEntry* e = find(s.kind);
  if (!e)
    throw std::invalid_argument("unknown layer kind " +
                                std::to_string(static_cast<int>(s.kind)));
  return e->make(s);
}

const char* layer_kind_name(LayerKind kind) {
  const KindEntry* e = find(kind);
  return e ? e->name : "?";
}

int num_layer_kinds() { return kNumKinds; }

}  // namespace engine
}  // namespace fastmlp
