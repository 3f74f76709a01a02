// The parallel Kalman scans against a plain sequential Kalman filter and RTS smoother; one
// smoother-ELK step against the direct least-squares solution of ALGORITHMS.md equation (5);
// elk in the sigma2 -> infinity limit against deer.
#include "test_common.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;
using Mat = std::vector<double>;  // row-major n x n

// --- a small, plain dense toolkit for the host references ---------------------------------

Mat matmul(const Mat& a, const Mat& b, int n) {
  Mat c(n * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k)
      for (int j = 0; j < n; ++j) c[i * n + j] += a[i * n + k] * b[k * n + j];
  return c;
}
Mat transpose(const Mat& a, int n) {
  Mat t(n * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) t[j * n + i] = a[i * n + j];
  return t;
}
Mat add(const Mat& a, const Mat& b, double sb = 1.0) {
  Mat c(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) c[i] = a[i] + sb * b[i];
  return c;
}
Mat identity(int n, double v = 1.0) {
  Mat m(n * n, 0.0);
  for (int i = 0; i < n; ++i) m[i * n + i] = v;
  return m;
}
std::vector<double> matvec(const Mat& a, const std::vector<double>& x, int n) {
  std::vector<double> y(n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) y[i] += a[i * n + j] * x[j];
  return y;
}
/// Gauss-Jordan inverse with partial pivoting.
Mat inverse(Mat a, int n) {
  Mat inv = identity(n);
  for (int c = 0; c < n; ++c) {
    int p = c;
    for (int r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    for (int j = 0; j < n; ++j) {
      std::swap(a[c * n + j], a[p * n + j]);
      std::swap(inv[c * n + j], inv[p * n + j]);
    }
    const double d = a[c * n + c];
    for (int j = 0; j < n; ++j) {
      a[c * n + j] /= d;
      inv[c * n + j] /= d;
    }
    for (int r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r * n + c];
      for (int j = 0; j < n; ++j) {
        a[r * n + j] -= f * a[c * n + j];
        inv[r * n + j] -= f * inv[c * n + j];
      }
    }
  }
  return inv;
}

/// A random linear-Gaussian model: A_t (A_0 = 0), b_t, y_t for B sequences.
struct Model {
  int B, T, D;
  bool diagonal;
  std::vector<Mat> A;  // [s * T + t], dense (diagonal models have zero off-diagonals)
  std::vector<std::vector<double>> b, y;
  Model(int B_, int T_, int D_, bool diag, std::uint64_t seed)
      : B(B_), T(T_), D(D_), diagonal(diag) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uni(-1, 1);
    for (int s = 0; s < B; ++s)
      for (int t = 0; t < T; ++t) {
        Mat a(D * D, 0.0);
        if (t > 0)
          for (int i = 0; i < D; ++i)
            for (int j = 0; j < D; ++j)
              if (!diag || i == j) a[i * D + j] = (diag ? 1.2 : 1.2 / std::sqrt(D)) * uni(rng);
        A.push_back(a);
        std::vector<double> bb(D), yy(D);
        for (auto& v : bb) v = uni(rng);
        for (auto& v : yy) v = 2 * uni(rng);
        b.push_back(bb);
        y.push_back(yy);
      }
  }
  const Mat& At(int s, int t) const { return A[std::size_t(s) * T + t]; }
  const std::vector<double>& bt(int s, int t) const { return b[std::size_t(s) * T + t]; }
  const std::vector<double>& yt(int s, int t) const { return y[std::size_t(s) * T + t]; }

  /// Classical filter: predict m- = A m + b, P- = A P A^T + I (prior N(b_0, I) at t = 0),
  /// update K = P- (P- + sigma2 I)^{-1}, m = m- + K (y - m-), P = P- - K P-.
  void filter(int s, double sigma2, std::vector<std::vector<double>>& m,
              std::vector<Mat>& P) const {
    std::vector<double> mt(D, 0.0);
    Mat Pt(D * D, 0.0);
    m.clear();
    P.clear();
    for (int t = 0; t < T; ++t) {
      const Mat& F = At(s, t);
      auto mp = matvec(F, mt, D);
      for (int i = 0; i < D; ++i) mp[i] += bt(s, t)[i];
      Mat Pp = add(matmul(matmul(F, Pt, D), transpose(F, D), D), identity(D));
      Mat K = matmul(Pp, inverse(add(Pp, identity(D, sigma2)), D), D);
      std::vector<double> innov(D);
      for (int i = 0; i < D; ++i) innov[i] = yt(s, t)[i] - mp[i];
      auto corr = matvec(K, innov, D);
      for (int i = 0; i < D; ++i) mt[i] = mp[i] + corr[i];
      Pt = add(Pp, matmul(K, Pp, D), -1.0);
      m.push_back(mt);
      P.push_back(Pt);
    }
  }

  /// Classical RTS: G = P A_{t+1}^T (P-_{t+1})^{-1}, x_t = m_t + G (x_{t+1} - m-_{t+1}),
  /// Ps_t = P_t + G (Ps_{t+1} - P-_{t+1}) G^T.
  void smooth(int s, const std::vector<std::vector<double>>& m, const std::vector<Mat>& P,
              std::vector<std::vector<double>>& x, std::vector<Mat>& Ps) const {
    x = m;
    Ps = P;
    for (int t = T - 2; t >= 0; --t) {
      const Mat& F = At(s, t + 1);
      auto mp = matvec(F, m[t], D);
      for (int i = 0; i < D; ++i) mp[i] += bt(s, t + 1)[i];
      Mat Pp = add(matmul(matmul(F, P[t], D), transpose(F, D), D), identity(D));
      Mat G = matmul(matmul(P[t], transpose(F, D), D), inverse(Pp, D), D);
      std::vector<double> dx(D);
      for (int i = 0; i < D; ++i) dx[i] = x[t + 1][i] - mp[i];
      auto c = matvec(G, dx, D);
      for (int i = 0; i < D; ++i) x[t][i] = m[t][i] + c[i];
      Ps[t] = add(P[t], matmul(matmul(G, add(Ps[t + 1], Pp, -1.0), D), transpose(G, D), D));
    }
  }
};

/// The model's A (dense (B, T, D, D) or diagonal (B, T, D)), b and y as Views.
struct ModelViews {
  Kokkos::View<double****, Kokkos::LayoutRight, Mem> A;
  kelk::SequenceView<double> a, b, y;
};

ModelViews views_of(const Model& md) {
  ModelViews v{Kokkos::View<double****, Kokkos::LayoutRight, Mem>("A", md.B, md.T, md.D, md.D),
               kelk::SequenceView<double>("a", md.B, md.T, md.D),
               kelk::SequenceView<double>("b", md.B, md.T, md.D),
               kelk::SequenceView<double>("y", md.B, md.T, md.D)};
  auto hA = Kokkos::create_mirror_view(v.A);
  auto ha = Kokkos::create_mirror_view(v.a);
  auto hb = Kokkos::create_mirror_view(v.b);
  auto hy = Kokkos::create_mirror_view(v.y);
  for (int s = 0; s < md.B; ++s)
    for (int t = 0; t < md.T; ++t)
      for (int i = 0; i < md.D; ++i) {
        for (int j = 0; j < md.D; ++j) hA(s, t, i, j) = md.At(s, t)[i * md.D + j];
        ha(s, t, i) = md.At(s, t)[i * md.D + i];
        hb(s, t, i) = md.bt(s, t)[i];
        hy(s, t, i) = md.yt(s, t)[i];
      }
  Kokkos::deep_copy(v.A, hA);
  Kokkos::deep_copy(v.a, ha);
  Kokkos::deep_copy(v.b, hb);
  Kokkos::deep_copy(v.y, hy);
  return v;
}

/// max deviation of (means, covariances) Views from per-sequence host references.
template <class MeanView, class CovView>
double deviation(const Model& md, const MeanView& mean, const CovView& cov, bool diagonal,
                 const std::vector<std::vector<std::vector<double>>>& ref_m,
                 const std::vector<std::vector<Mat>>& ref_P) {
  auto hm = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), mean);
  auto hc = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), cov);
  double err = 0;
  for (int s = 0; s < md.B; ++s)
    for (int t = 0; t < md.T; ++t)
      for (int i = 0; i < md.D; ++i) {
        err = std::max(err, std::abs(hm(s, t, i) - ref_m[s][t][i]));
        for (int j = 0; j < md.D; ++j) {
          double got;
          if constexpr (CovView::rank == 4)
            got = hc(s, t, i, j);
          else
            got = i == j ? hc(s, t, i) : 0.0;
          if (diagonal && i != j) continue;
          err = std::max(err, std::abs(got - ref_P[s][t][i * md.D + j]));
        }
      }
  return err;
}

}  // namespace

TEST_CASE("parallel Kalman filter and RTS smoother match the sequential ones", "[kalman]") {
  const bool diagonal = GENERATE(false, true);
  const int T = GENERATE(1, 2, 50, 301);
  const int chunks = GENERATE(1, 3, 17, 400);
  const double sigma2 = GENERATE(0.1, 1.0, 100.0);
  // phase 2 as a sequential walk (0) or as a nested scan over the chunk summaries
  const int groups = GENERATE(0, 4);
  const int B = 2, D = 3;
  CAPTURE(diagonal, T, chunks, sigma2, groups);
  const Model md(B, T, D, diagonal, 1000u * T + chunks + (diagonal ? 7u : 0u));
  const auto v = views_of(md);

  std::vector<std::vector<std::vector<double>>> fm(B), sm(B);
  std::vector<std::vector<Mat>> fP(B), sP(B);
  for (int s = 0; s < B; ++s) {
    md.filter(s, sigma2, fm[s], fP[s]);
    md.smooth(s, fm[s], fP[s], sm[s], sP[s]);
  }
  kelk::SequenceView<double> mean("mean", B, T, D);
  const double k = kelk::kalman_gain(sigma2);
  if (!diagonal) {
    Kokkos::View<double****, Kokkos::LayoutRight, Mem> cov("cov", B, T, D, D);
    kelk::DenseKalmanFilterAlgebra<double, Mem> filter{v.A, v.b, v.y, mean, cov, k};
    kelk::ChunkedScan<Exec, decltype(filter)>(Exec(), filter, chunks, groups).run(filter);
    CHECK(deviation(md, mean, cov, false, fm, fP) <= 1e-11);
    kelk::DenseRtsSmootherAlgebra<double, Mem> smoother{v.A, v.b, mean, cov, true};
    kelk::ChunkedScan<Exec, decltype(smoother)>(Exec(), smoother, chunks, groups).run(smoother);
    CHECK(deviation(md, mean, cov, false, sm, sP) <= 1e-11);
  } else {
    kelk::SequenceView<double> var("var", B, T, D);
    kelk::ScalarKalmanFilterAlgebra<double, Mem> filter{v.a, v.b, v.y, mean, var, k};
    kelk::ChunkedScan<Exec, decltype(filter)>(Exec(), filter, chunks, groups).run(filter);
    CHECK(deviation(md, mean, var, true, fm, fP) <= 1e-11);
    kelk::ScalarRtsSmootherAlgebra<double, Mem> smoother{v.a, v.b, mean, var, true};
    kelk::ChunkedScan<Exec, decltype(smoother)>(Exec(), smoother, chunks, groups).run(smoother);
    CHECK(deviation(md, mean, var, true, sm, sP) <= 1e-11);
  }
}

TEST_CASE("the filter can write its means over the offsets b", "[kalman]") {
  // what elk does without the smoother: no separate buffer for the means
  const Model md(2, 200, 3, false, 5);
  const auto v = views_of(md);
  kelk::SequenceView<double> mean("mean", 2, 200, 3);
  Kokkos::View<double****, Kokkos::LayoutRight, Mem> none;
  kelk::DenseKalmanFilterAlgebra<double, Mem> separate{v.A, v.b, v.y, mean, none, 0.3};
  kelk::ChunkedScan<Exec, decltype(separate)>(Exec(), separate, 4).run(separate);
  kelk::DenseKalmanFilterAlgebra<double, Mem> in_place{v.A, v.b, v.y, v.b, none, 0.3};
  kelk::ChunkedScan<Exec, decltype(in_place)>(Exec(), in_place, 4).run(in_place);
  CHECK(kelk_test::max_abs_diff(mean, v.b) == 0.0);
}

namespace {
/// f, and the Jacobian at (s, u) of a map, on the host (one-thread kernel).
template <class Map>
void host_linearize(const Map& map, const std::vector<double>& s, const std::vector<double>& u,
                    std::vector<double>& f, Mat& J) {
  const int D = map.state_dim(), Din = map.input_dim();
  Kokkos::View<double*> sv("s", D), uv("u", Din + 1), fv("f", D), jv("J", D * D),
      scratch("scratch", map.scratch_size() + 1);
  auto hs = Kokkos::create_mirror_view(sv);
  auto hu = Kokkos::create_mirror_view(uv);
  for (int i = 0; i < D; ++i) hs(i) = s[i];
  for (int i = 0; i < Din; ++i) hu(i) = u[i];
  Kokkos::deep_copy(sv, hs);
  Kokkos::deep_copy(uv, hu);
  Kokkos::parallel_for(
      "test::linearize", Kokkos::RangePolicy<>(0, 1), KOKKOS_LAMBDA(int) {
        map.jacobian(sv.data(), uv.data(), fv.data(), jv.data(), scratch.data());
      });
  auto hf = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), fv);
  auto hj = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), jv);
  f.assign(hf.data(), hf.data() + D);
  J.assign(hj.data(), hj.data() + D * D);
}
}  // namespace

TEST_CASE("one smoother-ELK step solves the least-squares problem (5)", "[kalman]") {
  // minimise sum_t |s_t - A_t s_{t-1} - b_t|^2 + lambda sum_t |s_t - y_t|^2 directly through
  // its normal equations, with A_t, b_t the linearisation around the guess y
  const int T = 7, D = 3, Din = 2;
  const double sigma2 = GENERATE(0.5, 3.0, 40.0);
  const double lambda = 1.0 / sigma2;
  const auto map = kelk::make_random_elman<double>(D, Din, 1.5, 3);
  auto p = kelk_test::random_problem<double>(1, T, D, Din, 4);
  kelk::SequenceView<double> states("states", 1, T, D);
  {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> uni(-0.8, 0.8);
    auto h = Kokkos::create_mirror_view(states);
    for (std::size_t i = 0; i < h.span(); ++i) h.data()[i] = uni(rng);
    Kokkos::deep_copy(states, h);
  }
  auto hy = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), states);
  auto hs0 = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.s0);
  auto hu = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.inputs);

  // normal equations (G^T G + lambda I) s = G^T c + lambda y, G the block-bidiagonal operator
  const int n = T * D;
  Mat G(n * n, 0.0);
  std::vector<double> c(n), y(n);
  for (int t = 0; t < T; ++t) {
    std::vector<double> prev(D), u(Din), f;
    Mat J;
    for (int i = 0; i < D; ++i) prev[i] = t == 0 ? hs0(0, i) : hy(0, t - 1, i);
    for (int i = 0; i < Din; ++i) u[i] = hu(0, t, i);
    host_linearize(map, prev, u, f, J);
    for (int i = 0; i < D; ++i) {
      y[t * D + i] = hy(0, t, i);
      G[(t * D + i) * n + t * D + i] = 1.0;
      double bt = f[i];
      if (t > 0)
        for (int j = 0; j < D; ++j) {
          G[(t * D + i) * n + (t - 1) * D + j] = -J[i * D + j];
          bt -= J[i * D + j] * prev[j];
        }
      c[t * D + i] = bt;
    }
  }
  Mat N(n * n, 0.0);
  std::vector<double> rhs(n, 0.0);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j)
      for (int r = 0; r < n; ++r) N[i * n + j] += G[r * n + i] * G[r * n + j];
    N[i * n + i] += lambda;
    for (int r = 0; r < n; ++r) rhs[i] += G[r * n + i] * c[r];
    rhs[i] += lambda * y[i];
  }
  const auto direct = matvec(inverse(N, n), rhs, n);

  kelk::SolveOptions opt;
  opt.method = kelk::Method::elk;
  opt.sigma2 = sigma2;
  opt.kalman_smoother = true;
  opt.initial_guess = kelk::InitialGuess::provided;
  opt.max_iter = 1;
  opt.keep_best = false;
  opt.non_finite = kelk::NonFinitePolicy::none;
  kelk::solve(map, p.s0, p.inputs, states, opt);
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), states);
  double err = 0;
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < D; ++i) err = std::max(err, std::abs(h(0, t, i) - direct[t * D + i]));
  CAPTURE(sigma2);
  CHECK(err <= 1e-10);
}

TEST_CASE("elk with a huge sigma2 gives the deer iterates", "[kalman]") {
  const auto map = kelk::make_random_gru<double>(5, 2, 1.5, 6);
  const kelk::Method method = GENERATE(kelk::Method::elk, kelk::Method::quasi_elk);
  const bool smoother = GENERATE(false, true);
  CAPTURE(kelk::to_string(method), smoother);
  auto p = kelk_test::random_problem<double>(2, 300, 5, 2, 7);
  for (int k : {1, 2, 4}) {
    kelk::SequenceView<double> a("a", 2, 300, 5), b("b", 2, 300, 5);
    kelk::SolveOptions opt;
    opt.max_iter = k;
    opt.keep_best = false;
    opt.method = method == kelk::Method::elk ? kelk::Method::deer : kelk::Method::quasi_deer;
    kelk::solve(map, p.s0, p.inputs, a, opt);
    opt.method = method;
    opt.sigma2 = 1e14;
    opt.kalman_smoother = smoother;
    kelk::solve(map, p.s0, p.inputs, b, opt);
    CAPTURE(k);
    CHECK(kelk_test::max_abs_diff(a, b) <= 1e-8);
  }
}
