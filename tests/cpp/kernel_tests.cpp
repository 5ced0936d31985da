// Standalone kernel tests: every entry of every KernelTable this CPU supports, against
// float64 references, on a grid of awkward shapes. Built with -DFASTMLP_BUILD_CPP_TESTS=ON;
// .ci/run builds it with -DFASTMLP_SANITIZE=ON and runs it under ASan + UBSan. Every
// buffer is its own exact-size heap allocation so any overrun is reported, and outputs are
// poisoned with NaN to prove each element is written.
#include <cfenv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/threads.h"

using fastmlp::Act;
using fastmlp::Epilogue;
using fastmlp::KernelTable;

namespace {

int g_failures = 0;
int g_checks = 0;
std::mt19937 g_rng(1234);

// An exact-size heap array (so ASan sees reads one past the end).
struct Buf {
  std::unique_ptr<float[]> p;
  size_t n;
  explicit Buf(size_t n_) : p(new float[n_ ? n_ : 1]), n(n_) {}
  float* data() { return p.get(); }
  float& operator[](size_t i) { return p[i]; }
};

Buf random_buf(size_t n, float scale = 1.f) {
  Buf b(n);
  std::normal_distribution<float> d(0.f, scale);
  for (size_t i = 0; i < n; ++i) b[i] = d(g_rng);
  return b;
}

void poison(Buf& b) {
  for (size_t i = 0; i < b.n; ++i) b[i] = std::numeric_limits<float>::quiet_NaN();
}

void fail(const std::string& what) {
  ++g_failures;
  if (g_failures <= 30) std::fprintf(stderr, "FAIL %s\n", what.c_str());
}

constexpr double kSeluA = 1.6732632423543772848170429916717;
constexpr double kSeluS = 1.0507009873554804934193349852946;
const double kGeluC1 = 2.0 * std::sqrt(2.0 / M_PI), kGeluC2 = kGeluC1 * 0.044715;

double sigmoid_ref(double x) {
  const double e = std::exp(-std::fabs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

double act_ref(Act a, double x, double alpha) {
  switch (a) {
    case Act::linear: return x;
    case Act::relu: return x > 0 ? x : 0;
    case Act::leaky_relu: return x > 0 ? x : alpha * x;
    case Act::sigmoid: return 1 / (1 + std::exp(-x));
    case Act::tanh: return std::tanh(x);
    case Act::gelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case Act::gelu_tanh: return x * sigmoid_ref(x * (kGeluC1 + kGeluC2 * x * x));
    case Act::silu: return x * sigmoid_ref(x);
    case Act::elu: return x > 0 ? x : alpha * std::expm1(x);
    case Act::selu: return kSeluS * (x > 0 ? x : kSeluA * std::expm1(x));
    case Act::softplus: return std::fmax(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
    case Act::hard_sigmoid: return std::fmin(std::fmax((x + 3) / 6, 0.0), 1.0);
    case Act::mish: return x * std::tanh(std::fmax(x, 0.0) + std::log1p(std::exp(-std::fabs(x))));
  }
  return x;
}

// act' as a function of the forward output y (the activations act_backward supports).
double act_grad_ref(Act a, double y, double alpha) {
  switch (a) {
    case Act::linear: return 1;
    case Act::relu: return y > 0 ? 1 : 0;
    case Act::leaky_relu: return y > 0 ? 1 : alpha;
    case Act::sigmoid: return y * (1 - y);
    case Act::tanh: return 1 - y * y;
    case Act::elu: return y > 0 ? 1 : y + alpha;
    case Act::selu: return y > 0 ? kSeluS : y + double(float(kSeluS * kSeluA));
    case Act::softplus: return -std::expm1(-y);
    case Act::hard_sigmoid: return y > 0 && y < 1 ? 1.0 / 6 : 0;
    default: return std::nan("");  // needs x
  }
}

// act' as a function of the pre-activation x (act_backward_x, every activation).
double act_grad_x_ref(Act a, double x, double alpha) {
  switch (a) {
    case Act::linear: return 1;
    case Act::relu: return x > 0 ? 1 : 0;
    case Act::leaky_relu: return x > 0 ? 1 : alpha;
    case Act::sigmoid: { const double s = sigmoid_ref(x); return s * (1 - s); }
    case Act::tanh: { const double t = std::tanh(x); return 1 - t * t; }
    case Act::gelu:
      return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    case Act::gelu_tanh: {
      const double s = sigmoid_ref(x * (kGeluC1 + kGeluC2 * x * x));
      return s + x * (kGeluC1 + 3 * kGeluC2 * x * x) * s * (1 - s);
    }
    case Act::silu: { const double s = sigmoid_ref(x); return s * (1 + x * (1 - s)); }
    case Act::elu: return x > 0 ? 1 : alpha * std::exp(x);
    case Act::selu: return kSeluS * (x > 0 ? 1 : kSeluA * std::exp(x));
    case Act::softplus: return sigmoid_ref(x);
    case Act::hard_sigmoid: return x > -3 && x < 3 ? 1.0 / 6 : 0;
    case Act::mish: {
      const double t = std::tanh(std::fmax(x, 0.0) + std::log1p(std::exp(-std::fabs(x))));
      return t + x * (1 - t * t) * sigmoid_ref(x);
    }
  }
  return 1;
}

// Every activation code, in order.
std::vector<Act> all_acts() {
  std::vector<Act> v;
  for (int32_t i = 0; i < fastmlp::kActCount; ++i) v.push_back(static_cast<Act>(i));
  return v;
}

void test_gemm(const KernelTable& k, const char* tier) {
  const int sizes[] = {1, 2, 3, 4, 5, 7, 11, 12, 13, 16, 17, 31, 32, 33, 47, 65};
  const int ks[] = {1, 3, 16, 37, 130, 600};
  const std::vector<Act> acts = all_acts();
  int combo = 0;
  for (int M : sizes)
    for (int N : sizes)
      for (int K : ks) {
        ++combo;
        if (combo % 3 != 0 && !(M <= 4 || N <= 4)) continue;  // thin the grid, keep small-M
        const bool ta = combo & 1, tb = (combo >> 1) & 1;
        const float alpha = (combo % 5 == 0) ? -0.5f : 1.f;
        const float beta = (combo % 4 == 0) ? 0.7f : 0.f;
        const Act act = acts[combo % acts.size()];
        const bool use_ep = combo % 7 != 0;
        const bool use_bias = combo % 2 == 0;
        Buf A = random_buf(size_t(M) * K), B = random_buf(size_t(K) * N);
        Buf C0 = random_buf(size_t(M) * N), bias = random_buf(N);
        Buf C(size_t(M) * N);
        if (beta != 0.f) for (size_t i = 0; i < C.n; ++i) C[i] = C0[i];
        else poison(C);
        Epilogue ep;
        ep.bias = use_bias ? bias.data() : nullptr;
        ep.act = act;
        ep.alpha = 0.1f;
        const int64_t lda = ta ? M : K, ldb = tb ? K : N;
        k.gemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), N,
               use_ep ? &ep : nullptr);
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < N; ++j) {
            double acc = 0, mag = 0;
            for (int p = 0; p < K; ++p) {
              const double a = ta ? A[size_t(p) * M + i] : A[size_t(i) * K + p];
              const double b = tb ? B[size_t(j) * K + p] : B[size_t(p) * N + j];
              acc += a * b;
              mag += std::fabs(a * b);
            }
            double ref = alpha * acc + beta * double(C0[size_t(i) * N + j]);
            if (use_ep) {
              if (use_bias) ref += bias[j];
              ref = act_ref(act, ref, 0.1);
            }
            const double tol = 1e-5 * (mag + 1.0);
            const double got = C[size_t(i) * N + j];
            ++g_checks;
            if (!(std::fabs(got - ref) <= tol)) {
              fail(std::string(tier) + " gemm M=" + std::to_string(M) + " N=" +
                   std::to_string(N) + " K=" + std::to_string(K) + " ta=" +
                   std::to_string(ta) + " tb=" + std::to_string(tb) + " got " +
                   std::to_string(got) + " want " + std::to_string(ref));
              i = M;
              break;
            }
          }
      }
}

// Pre-packed B: same results as the reference (and bitwise equal to gemm() for M > 4,
// which shares the blocked driver).
void test_gemm_packed(const KernelTable& k, const char* tier) {
  const int shapes[][3] = {{1, 10, 784}, {3, 128, 37}, {5, 33, 600}, {64, 130, 1031},
                           {13, 4100, 20}, {97, 10, 128}, {12, 32, 1}};
  int combo = 0;
  for (auto& s : shapes) {
    const int M = s[0], N = s[1], K = s[2];
    for (int flags = 0; flags < 4; ++flags, ++combo) {
      const bool ta = flags & 1, tb = flags & 2;
      Buf A = random_buf(size_t(M) * K), B = random_buf(size_t(K) * N), bias = random_buf(N);
      Buf Bp(size_t(k.packed_b_size(K, N)));
      k.pack_b(tb, K, N, B.data(), tb ? K : N, Bp.data());
      Epilogue ep;
      ep.bias = bias.data();
      ep.act = combo % 2 ? Act::relu : Act::tanh;
      Buf C(size_t(M) * N), C2(size_t(M) * N);
      poison(C);
      poison(C2);
      k.gemm_packed(ta, M, N, K, A.data(), ta ? M : K, Bp.data(), C.data(), N, &ep);
      k.gemm(ta, tb, M, N, K, 1.f, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.f, C2.data(),
             N, &ep);
      for (size_t i = 0; i < C.n; ++i) {
        ++g_checks;
        const bool same = M > 4 ? C[i] == C2[i] : std::fabs(C[i] - C2[i]) <= 1e-4f * (1 + std::fabs(C2[i]));
        if (!same) {
          fail(std::string(tier) + " gemm_packed M=" + std::to_string(M) + " N=" +
               std::to_string(N) + " K=" + std::to_string(K) + " flags=" + std::to_string(flags));
          break;
        }
      }
      // The same product in column parts (whole panels; 3 parts, the last one open-ended):
      // gemm_packed's bits exactly, every column written once.
      Buf C3(size_t(M) * N);
      poison(C3);
      const int64_t units = (N + k.gemm_nr - 1) / k.gemm_nr;
      for (int p = 0; p < 3; ++p)
        k.gemm_packed_cols(ta, M, N, K, A.data(), ta ? M : K, Bp.data(), C3.data(), N, &ep,
                           units * p / 3 * k.gemm_nr,
                           p == 2 ? N + 100 : units * (p + 1) / 3 * k.gemm_nr);
      for (size_t i = 0; i < C.n; ++i) {
        ++g_checks;
        if (!(C3[i] == C[i])) {
          fail(std::string(tier) + " gemm_packed_cols M=" + std::to_string(M) + " N=" +
               std::to_string(N) + " K=" + std::to_string(K) + " flags=" + std::to_string(flags));
          break;
        }
      }
    }
  }
}

// Epilogue::nonfinite from gemm_packed and gemm_packed_cols: never set by finite data
// (N tails included, whose padded lanes must not count), always set by one NaN / +-inf in
// A, through zero and non-zero weights, in any row, K block
// or thread slice; the flag never changes the output's bits.
void test_gemm_packed_nonfinite(const KernelTable& k, const char* tier) {
  const int shapes[][3] = {{5, 10, 784}, {13, 33, 20}, {64, 130, 600}, {300, 16, 9}};
  const float bad_values[] = {0.f, std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity()};
  for (auto& s : shapes) {
    const int M = s[0], N = s[1], K = s[2];
    Buf A = random_buf(size_t(M) * K), B = random_buf(size_t(K) * N), bias = random_buf(N);
    const int br = M - 1 - M / 3, bc = K - 1 - K / 4;  // an awkward row and column
    // Half that input's weights are 0 (inf * 0 is NaN), half not (inf * w is +-inf).
    for (int j = 0; j < N; j += 2) B[size_t(bc) * N + j] = 0.f;
    Buf Bp(size_t(k.packed_b_size(K, N)));
    k.pack_b(false, K, N, B.data(), N, Bp.data());
    for (int bv = 0; bv < 4; ++bv) {
      const bool is_bad = bv > 0;
      const float saved = A[size_t(br) * K + bc];
      if (is_bad) A[size_t(br) * K + bc] = bad_values[bv];
      Epilogue plain;
      plain.bias = bias.data();
      plain.act = Act::relu;
      Epilogue flagged = plain;
      int flag = 0, flag_cols = 0;
      flagged.nonfinite = &flag;
      Buf C(size_t(M) * N), C2(size_t(M) * N);
      k.gemm_packed(false, M, N, K, A.data(), K, Bp.data(), C.data(), N, &plain);
      k.gemm_packed(false, M, N, K, A.data(), K, Bp.data(), C2.data(), N, &flagged);
      flagged.nonfinite = &flag_cols;
      const int64_t units = (N + k.gemm_nr - 1) / k.gemm_nr;
      for (int p = 0; p < 2; ++p)
        k.gemm_packed_cols(false, M, N, K, A.data(), K, Bp.data(), C2.data(), N, &flagged,
                           units * p / 2 * k.gemm_nr, units * (p + 1) / 2 * k.gemm_nr);
      ++g_checks;
      if (flag != int(is_bad) || flag_cols != int(is_bad))
        fail(std::string(tier) + " gemm_packed nonfinite flag M=" + std::to_string(M) +
             " N=" + std::to_string(N) + " K=" + std::to_string(K) + " bad=" +
             std::to_string(bv) + " got " + std::to_string(flag) + "/" +
             std::to_string(flag_cols));
      for (size_t i = 0; i < C.n; ++i) {
        ++g_checks;
        if (std::memcmp(&C[i], &C2[i], sizeof(float)) != 0) {
          fail(std::string(tier) + " gemm_packed nonfinite flag changed the output");
          break;
        }
      }
      A[size_t(br) * K + bc] = saved;
    }
  }
}

// exp results that round to 0 (x < -104, the -inf padding of a short softmax row) must
// not raise a floating-point underflow: on x86 each underflowing result costs a
// microcode assist (3.5% of an E1 epoch came from a 10-class row's padding lanes).
// Rows whose values give either 0 or normal results underflow nowhere.
void test_exp_no_underflow(const KernelTable& k, const char* tier) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int cols : {3, 10, 16, 37}) {
    const int rows = 5;
    Buf x(size_t(rows) * cols), y(size_t(rows) * cols), d(size_t(rows) * cols), rl(rows);
    std::vector<int32_t> labels(rows);
    for (int r = 0; r < rows; ++r) {
      labels[r] = r % cols;
      for (int c = 0; c < cols; ++c) {
        const float vals[] = {0.f, -1.f, -50.f, -105.f, -200.f, ninf, -3.f};
        x[size_t(r) * cols + c] = c == labels[r] ? 0.f : vals[(r + c) % 7];
      }
    }
    std::feclearexcept(FE_ALL_EXCEPT);
    k.softmax(x.data(), y.data(), rows, cols, false);
    k.softmax_xent(x.data(), labels.data(), d.data(), rl.data(), rows, cols, 1.f / 64);
    k.act_forward(Act::sigmoid, 0.f, x.data(), y.data(), int64_t(rows) * cols);
    ++g_checks;
    if (std::fetestexcept(FE_UNDERFLOW))
      fail(std::string(tier) + " exp raised an underflow for a result of 0, cols=" +
           std::to_string(cols));
    for (size_t i = 0; i < y.n; ++i) {
      ++g_checks;
      const float want = x[i] < -104.f ? 0.f : float(1.0 / (1.0 + std::exp(-double(x[i]))));
      if (!(std::fabs(y[i] - want) <= 1e-6f * want + 1e-30f)) {
        fail(std::string(tier) + " sigmoid far below 0");
        break;
      }
    }
  }
}

void test_elementwise(const KernelTable& k, const char* tier) {
  const int ns[] = {0, 1, 3, 7, 15, 16, 17, 33, 100, 1031};
  for (int n : ns)
    for (Act a : all_acts()) {
      const bool from_y = !fastmlp::act_backward_needs_x(a);
      Buf x = random_buf(n, 3.f), y(n), dy = random_buf(n), dx(n), dxx(n);
      poison(y);
      poison(dx);
      poison(dxx);
      k.act_forward(a, 0.2f, x.data(), y.data(), n);
      k.act_backward(a, 0.2f, y.data(), dy.data(), dx.data(), n);
      k.act_backward_x(a, 0.2f, x.data(), dy.data(), dxx.data(), n);
      for (int i = 0; i < n; ++i) {
        const double ry = act_ref(a, x[i], 0.2);
        const double rdx = dy[i] * act_grad_ref(a, y[i], 0.2);
        const double rdxx = dy[i] * act_grad_x_ref(a, x[i], 0.2);
        ++g_checks;
        const bool ok_y = from_y ? std::fabs(dx[i] - rdx) <= 2e-6 * (1 + std::fabs(rdx))
                                 : std::isnan(dx[i]);  // unsupported: NaN
        if (!(std::fabs(y[i] - ry) <= 2e-6 * (1 + std::fabs(ry))) || !ok_y ||
            !(std::fabs(dxx[i] - rdxx) <= 2e-6 * (1 + std::fabs(rdxx)))) {
          fail(std::string(tier) + " activation " + fastmlp::kActNames[int(a)] + " n=" +
               std::to_string(n) + " i=" + std::to_string(i) + " x=" + std::to_string(x[i]));
          break;
        }
      }
    }
  const int shapes[][2] = {{1, 1}, {1, 10}, {3, 17}, {7, 16}, {5, 100}, {64, 10}, {2, 1025}};
  for (auto& s : shapes) {
    const int rows = s[0], cols = s[1];
    Buf x = random_buf(size_t(rows) * cols, 5.f);
    x[0] = 1e4f;  // stability
    if (x.n > 1) x[1] = -1e4f;
    std::vector<int32_t> labels(rows);
    for (int r = 0; r < rows; ++r) labels[r] = (r * 7) % cols;
    Buf y(x.n), ly(x.n), d(x.n), rl(rows);
    poison(y); poison(ly); poison(d); poison(rl);
    k.softmax(x.data(), y.data(), rows, cols, false);
    k.softmax(x.data(), ly.data(), rows, cols, true);
    const double total = k.softmax_xent(x.data(), labels.data(), d.data(), rl.data(), rows,
                                        cols, 1.f / rows);
    double ref_total = 0;
    for (int r = 0; r < rows; ++r) {
      double m = -1e300;
      for (int j = 0; j < cols; ++j) m = std::max(m, double(x[size_t(r) * cols + j]));
      double s2 = 0;
      for (int j = 0; j < cols; ++j) s2 += std::exp(x[size_t(r) * cols + j] - m);
      const double lse = m + std::log(s2);
      for (int j = 0; j < cols; ++j) {
        const size_t i = size_t(r) * cols + j;
        const double p = std::exp(x[i] - lse);
        const double g = (p - (j == labels[r])) / rows;
        ++g_checks;
        if (!(std::fabs(y[i] - p) <= 1e-6) || !(std::fabs(ly[i] - (x[i] - lse)) <= 1e-5 * (1 + std::fabs(x[i] - lse))) ||
            !(std::fabs(d[i] - g) <= 1e-6)) {
          fail(std::string(tier) + " softmax/xent rows=" + std::to_string(rows) + " cols=" +
               std::to_string(cols));
          r = rows;
          break;
        }
      }
      if (r < rows) {
        const double l = lse - x[size_t(r) * cols + labels[r]];
        ref_total += l;
        if (!(std::fabs(rl[r] - l) <= 1e-5 * (1 + l))) fail(std::string(tier) + " xent row loss");
      }
    }
    if (!(std::fabs(total - ref_total) <= 1e-5 * (1 + std::fabs(ref_total))))
      fail(std::string(tier) + " xent total");
  }
  for (auto& s : shapes) {
    const int rows = s[0], cols = s[1];
    Buf x = random_buf(size_t(rows) * cols), out(cols);
    poison(out);
    k.colsum(x.data(), cols, out.data(), rows, cols);
    for (int j = 0; j < cols; ++j) {
      double ref = 0;
      for (int r = 0; r < rows; ++r) ref += x[size_t(r) * cols + j];
      ++g_checks;
      if (!(std::fabs(out[j] - ref) <= 1e-5 * (1 + rows))) {
        fail(std::string(tier) + " colsum");
        break;
      }
    }
  }
}

void test_optimizers(const KernelTable& k, const char* tier) {
  for (int n : {1, 15, 16, 17, 1000}) {
    for (int variant = 0; variant < 4; ++variant) {
      const float lr = 0.1f, mom = variant == 0 ? 0.f : 0.9f, wd = variant >= 2 ? 0.01f : 0.f;
      const bool nesterov = variant == 3;
      Buf p = random_buf(n), g = random_buf(n), v = random_buf(n);
      std::vector<double> rp(p.p.get(), p.p.get() + n), rv(v.p.get(), v.p.get() + n);
      k.sgd_update(p.data(), g.data(), mom != 0.f ? v.data() : nullptr, n, lr, mom, nesterov, wd);
      for (int i = 0; i < n; ++i) {
        const double gi = g[i] + wd * rp[i];
        double step = gi;
        if (mom != 0.f) {
          rv[i] = mom * rv[i] + gi;
          step = nesterov ? gi + mom * rv[i] : rv[i];
        }
        rp[i] -= lr * step;
        ++g_checks;
        if (!(std::fabs(p[i] - rp[i]) <= 1e-5 * (1 + std::fabs(rp[i])))) {
          fail(std::string(tier) + " sgd variant " + std::to_string(variant));
          break;
        }
      }
    }
    for (int decoupled = 0; decoupled < 2; ++decoupled) {
      Buf p = random_buf(n), m(n), v(n);
      for (int i = 0; i < n; ++i) m[i] = v[i] = 0.f;
      std::vector<double> rp(p.p.get(), p.p.get() + n), rm(n, 0.0), rv(n, 0.0);
      const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-7, wd = 0.01;
      for (int step = 1; step <= 3; ++step) {
        Buf g = random_buf(n);
        k.adam_update(p.data(), g.data(), m.data(), v.data(), n, float(lr), float(b1),
                      float(b2), float(eps), float(wd), decoupled, step);
        for (int i = 0; i < n; ++i) {
          double gi = g[i];
          if (!decoupled) gi += wd * rp[i];
          rm[i] = b1 * rm[i] + (1 - b1) * gi;
          rv[i] = b2 * rv[i] + (1 - b2) * gi * gi;
          if (decoupled) rp[i] -= lr * wd * rp[i];
          const double mh = rm[i] / (1 - std::pow(b1, step)), vh = rv[i] / (1 - std::pow(b2, step));
          rp[i] -= lr * mh / (std::sqrt(vh) + eps);
        }
      }
      for (int i = 0; i < n; ++i) {
        ++g_checks;
        if (!(std::fabs(p[i] - rp[i]) <= 1e-5 * (1 + std::fabs(rp[i])))) {
          fail(std::string(tier) + " adam decoupled=" + std::to_string(decoupled));
          break;
        }
      }
    }
  }
}

// int8: gemm_u8s8 exact against int64 sums (7-bit and full-range A, raw and with a zero
// point), its float epilogue against the same float32 formula, and quantize_rows' codes
// reproducing the row within half a step. Exact-size buffers, so ASan sees overruns.
void test_int8(const KernelTable& k, const char* tier) {
  std::uniform_int_distribution<int> ua(0, 255), ub(-128, 127);
  for (int64_t M : {1, 3, 4, 5, 17, 70})
    for (int64_t K : {1, 3, 4, 5, 33, 130})
      for (int64_t N : {1, 15, 16, 17, 40}) {
        for (bool full : {false, true}) {
          std::unique_ptr<uint8_t[]> A(new uint8_t[M * K]);
          std::unique_ptr<int8_t[]> B(new int8_t[K * N]);
          for (int64_t i = 0; i < M * K; ++i) A[i] = static_cast<uint8_t>(ua(g_rng) & (full ? 255 : 127));
          for (int64_t i = 0; i < K * N; ++i) B[i] = static_cast<int8_t>(ub(g_rng));
          std::unique_ptr<uint8_t[]> Bp(new uint8_t[k.packed_s8_size(K, N)]);
          k.pack_s8(K, N, B.get(), N, Bp.get());
          std::vector<int32_t> zero(M), c32(M * N, -1);
          std::vector<float> sa(M), sb(N), bias(N), c(M * N, std::nanf(""));
          for (int64_t i = 0; i < M; ++i) { zero[i] = ua(g_rng); sa[i] = 0.01f * (1 + i % 7); }
          for (int64_t j = 0; j < N; ++j) { sb[j] = 0.02f * (1 + j % 5); bias[j] = 0.1f * (j % 3); }
          fastmlp::Int8Output o;
          o.c32 = c32.data();
          o.ldc = N;
          o.a_zero = zero.data();
          o.a_full_range = full;
          k.gemm_u8s8(M, N, K, A.get(), K, Bp.get(), &o, 0, N);
          fastmlp::Int8Output f = o;
          f.c32 = nullptr;
          f.c = c.data();
          f.a_scale = sa.data();
          f.b_scale = sb.data();
          f.ep.bias = bias.data();
          f.ep.act = Act::relu;
          k.gemm_u8s8(M, N, K, A.get(), K, Bp.get(), &f, 0, N);
          bool ok = true;
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              int64_t s = 0, cs = 0;
              for (int64_t t = 0; t < K; ++t) {
                s += int64_t(A[i * K + t]) * B[t * N + j];
                cs += B[t * N + j];
              }
              const int64_t d = s - zero[i] * cs;
              float v = static_cast<float>(d) * (sa[i] * sb[j]);
              v = v + bias[j];
              v = v > 0.f ? v : 0.f;
              ok = ok && c32[i * N + j] == d && std::memcmp(&c[i * N + j], &v, 4) == 0;
            }
          ++g_checks;
          if (!ok)
            fail(std::string(tier) + " gemm_u8s8 M=" + std::to_string(M) + " K=" +
                 std::to_string(K) + " N=" + std::to_string(N) + (full ? " full" : " 7-bit"));
        }
      }
  for (int64_t cols : {1, 8, 31, 32, 33, 100}) {
    Buf x = random_buf(3 * cols, 4.f);
    std::vector<uint8_t> q(3 * cols);
    std::vector<float> scale(3);
    std::vector<int32_t> zero(3);
    int nonfinite = 0;
    k.quantize_rows(x.data(), 3, cols, cols, 127, 0.f, 0, q.data(), cols, scale.data(),
                    zero.data(), &nonfinite);
    bool ok = nonfinite == 0;
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t t = 0; t < cols; ++t) {
        const float back = (float(q[r * cols + t]) - float(zero[r])) * scale[r];
        ok = ok && q[r * cols + t] <= 127 &&
             std::fabs(back - x[r * cols + t]) <= 0.5f * scale[r] * 1.0001f;
      }
    ++g_checks;
    if (!ok) fail(std::string(tier) + " quantize_rows cols=" + std::to_string(cols));
  }
}

// pack_bf16_sliced: the same bytes as pack_bf16 of B after every slice's `before`, each
// row handed to `before` exactly once, in slices of whole pairs of k.
struct SliceProbe {
  float* B;
  int64_t N, K;
  std::vector<int> seen;  // per row; slices are disjoint, so threads never share an entry
  bool pairs_ok = true;
};

void test_bf16_pack_sliced(const KernelTable& k, const char* tier) {
  if (!k.pack_bf16_sliced) return;
  for (int64_t K : {1, 2, 3, 31, 32, 33, 65, 300})
    for (int64_t N : {1, 16, 17, 257}) {
      Buf B = random_buf(K * N);
      SliceProbe probe{B.data(), N, K, std::vector<int>(K, 0)};
      const size_t bytes = k.packed_bf16_size(K, N);
      std::unique_ptr<uint8_t[]> got(new uint8_t[bytes]), want(new uint8_t[bytes]);
      std::memset(got.get(), 0xA5, bytes);
      k.pack_bf16_sliced(K, N, B.data(), N, got.get(), [](void* ctx, int64_t k0, int64_t k1) {
        auto* p = static_cast<SliceProbe*>(ctx);
        p->pairs_ok = p->pairs_ok && k0 % 2 == 0 && (k1 % 2 == 0 || k1 == p->K) && k0 < k1;
        for (int64_t r = k0; r < k1; ++r) {
          ++p->seen[r];
          for (int64_t j = 0; j < p->N; ++j) p->B[r * p->N + j] = 0.5f * p->B[r * p->N + j] + r;
        }
      }, &probe);
      k.pack_bf16(false, K, N, B.data(), N, want.get());
      bool ok = probe.pairs_ok && std::memcmp(got.get(), want.get(), bytes) == 0;
      for (int v : probe.seen) ok = ok && v == 1;
      ++g_checks;
      if (!ok)
        fail(std::string(tier) + " pack_bf16_sliced K=" + std::to_string(K) + " N=" +
             std::to_string(N));
    }
}

}  // namespace

int main() {
  for (int threads : {1, 2}) {
    fastmlp::set_num_threads(threads);
    for (fastmlp::Tier t : fastmlp::supported_tiers()) {
      bool compiled = false;
      for (fastmlp::Tier c : fastmlp::compiled_tiers()) compiled |= c == t;
      if (!compiled) continue;
      const KernelTable& k = fastmlp::table_for(t);
      test_gemm(k, k.name);
      test_gemm_packed(k, k.name);
      test_gemm_packed_nonfinite(k, k.name);
      test_exp_no_underflow(k, k.name);
      test_elementwise(k, k.name);
      test_optimizers(k, k.name);
      test_int8(k, k.name);
      test_bf16_pack_sliced(k, k.name);
    }
  }
  std::fprintf(stderr, "kernel_tests: %d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
