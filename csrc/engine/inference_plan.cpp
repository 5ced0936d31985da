// The inference plan of a network: the steps an inference pass runs (a layer, or a
// Dense with the BatchNormalization after it folded in, with the activation after that
// as its epilogue; the identity layers skipped), and the per-version cache of what they
// read (Network::Packed: the packed weights, the folded parameters, a lone
// BatchNormalization's scale and shift). See network.h (Fold, InferStep).
#include <memory>
#include <vector>

#include "cpu/dispatch.h"
#include "engine/network.h"

namespace fastmlp {
namespace engine {

void Network::plan_inference() {
  const int n = static_cast<int>(layers_.size());
  for (int l = 0; l < n; ++l) {
    const Layer& L = *layers_[l];
    InferStep s;
    s.layer = s.last = l;
    s.identity = L.identity_in_inference();
    if (L.kind() == LayerKind::dense && L.spec().act == Act::linear && l + 1 < n &&
        layers_[l + 1]->kind() == LayerKind::batch_norm) {
      Fold f;
      f.dense = l;
      f.bn = s.last = l + 1;
      LayerSpec lin = L.spec();
      lin.use_bias = true;  // b' exists whenever the BN shifts
      lin.rate = 0.f;       // (a fused dropout: training only)
      const int first = 2 * static_cast<int>(folds_.size());
      f.linear = make_layer(lin);
      f.linear->set_first_param(first);
      if (l + 2 < n && layers_[l + 2]->kind() == LayerKind::activation) {
        LayerSpec a = lin;  // inference: any activation can be the epilogue
        a.act = layers_[l + 2]->spec().act;
        a.alpha = layers_[l + 2]->spec().alpha;
        f.with_act = make_layer(a);
        f.with_act->set_first_param(first);
        f.act = s.last = l + 2;
      }
      s.fold = static_cast<int>(folds_.size());
      folds_.push_back(std::move(f));
    }
    infer_steps_.push_back(s);
    l = s.last;
  }
  few_row_packs_ = !folds_.empty();
  for (const InferStep& s : infer_steps_)
    if (s.fold < 0 && layers_[s.layer]->packed_for_few_rows() &&
        layers_[s.layer]->packed_size(kernels()) > 0)
      few_row_packs_ = true;
}

const Layer& Network::step_layer(const InferStep& s, int last, bool fused) const {
  if (s.fold < 0) return layer_at(s.layer, fused);
  const Fold& f = folds_[s.fold];
  return f.with_act && s.last <= last ? *f.with_act : *f.linear;
}

void Network::fold_params(int f, std::vector<Param>& dst) const {
  const Fold& fd = folds_[f];
  const Layer& D = *layers_[fd.dense];
  const int64_t in = D.in(), out = D.out();
  std::vector<double> sc(out), sh(out);
  batch_norm_affine(*layers_[fd.bn], params_, sc.data(), sh.data());
  const float* W = params_[D.first_param()].buf->data();
  const float* b = D.spec().use_bias ? params_[D.first_param() + 1].buf->data() : nullptr;
  Param& pw = dst[2 * f];
  Param& pb = dst[2 * f + 1];
  pw.buf = std::make_unique<AlignedBuf>(in * out);
  pw.rows = in;
  pw.cols = out;
  pb.buf = std::make_unique<AlignedBuf>(out);
  pb.rows = 1;
  pb.cols = out;
  pb.vector = true;
  float* w2 = pw.buf->data();
  float* b2 = pb.buf->data();
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < out; ++j)
      w2[i * out + j] = static_cast<float>(W[i * out + j] * sc[j]);
  for (int64_t j = 0; j < out; ++j)
    b2[j] = static_cast<float>((b ? b[j] : 0.0) * sc[j] + sh[j]);
}

std::shared_ptr<const Network::Packed> Network::packed_for(const KernelTable& k,
                                                           bool many_rows) {
  if (!many_rows && !few_row_packs_) return nullptr;
  const uint64_t v = weights_version();
  std::lock_guard<std::mutex> g(packed_mu_);
  if (packed_ && packed_->version == v && packed_->table == &k &&
      (packed_->complete || !many_rows))
    return packed_;
  auto pk = std::make_shared<Packed>();
  pk->version = v;
  pk->table = &k;
  pk->complete = many_rows;
  pk->folded.resize(2 * folds_.size());
  for (size_t f = 0; f < folds_.size(); ++f) fold_params(static_cast<int>(f), pk->folded);
  const PassContext folded{k, pk->folded};
  pk->w.resize(layers_.size());
  for (const InferStep& s : infer_steps_) {  // a fold packs W' in its Dense's place
    const Layer& L = s.fold >= 0 ? *folds_[s.fold].linear : *layers_[s.layer];
    const int64_t n = L.packed_size(k);
    if (n == 0 || (!many_rows && !L.packed_for_few_rows())) continue;
    pk->w[s.layer].resize(n);
    L.pack(s.fold >= 0 ? folded : pass_context(k), pk->w[s.layer].data());
  }
  packed_ = pk;
  return pk;
}

}  // namespace engine
}  // namespace fastmlp
