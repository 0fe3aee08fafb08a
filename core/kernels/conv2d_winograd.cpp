// See conv2d_winograd.h. Three passes per call, each split over threads by disjoint outputs:
// NCHW input -> channels-last copy [n][h][w][c] (the padding is the Winograd kernel's: edge tiles
// read zeros outside the image), the tiles of every image -> channels-last output
// [n][h][w][cout], then back to NCHW.
#include "core/kernels/conv2d_winograd.h"

#include <algorithm>
#include <vector>

#include "core/kernels/channels_last_transpose.h"
#include "core/kernels/conv2d_common.h"
#include "core/kernels/winograd_f2x3.h"
#include "core/thread_pool.h"

namespace kiln::kernels {
namespace {

constexpr int64_t kMinChannels = 16;
constexpr int64_t kTileChunk = 32;  // tiles per task (their transformed inputs stay in L2)

// out[n][y][x][c] = in[n][c][y][x].
void to_channels_last(const float* in, int64_t n, int64_t c, int64_t h, int64_t w, float* out) {
  parallel_for(0, n * h, 4, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t img = r / h, y = r % h;
      planes_to_pixels(in + (img * c * h + y) * w, h * w, c, w, out + r * w * c, c);
    }
  });
}

// out[n][c][y][x] = in[n][y][x][c].
void from_channels_last(const float* in, int64_t n, int64_t c, int64_t h, int64_t w, float* out) {
  parallel_for(0, n * h, 4, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t img = r / h, y = r % h;
      pixels_to_planes(in + r * w * c, c, c, w, nullptr, out + (img * c * h + y) * w, h * w);
    }
  });
}

// The 3x3 / stride 1 / padding 1 correlation of NCHW `in` [n, cin, h, w] with transformed
// weights u (winograd_f2x3_weights of a [cout, cin, 3, 3] kernel) into NCHW out.
void run(const float* in, int64_t n, int64_t cin, int64_t h, int64_t w, const std::vector<float>& u,
         int64_t cout, float* out) {
  const int64_t tiles = ((h + 1) / 2) * ((w + 1) / 2);
  const int64_t per_img = (tiles + kTileChunk - 1) / kTileChunk;
  Tensor xcl = conv_detail::scratch<float>(n * h * w * cin);
  Tensor cl = conv_detail::scratch<float>(n * h * w * cout);
  to_channels_last(in, n, cin, h, w, xcl.data<float>());
  const float* xp = xcl.data<float>();
  float* op = cl.data<float>();
  parallel_for(0, n * per_img, 1, [&](int64_t tb, int64_t te) {
    std::vector<float> scratch(
        static_cast<size_t>(winograd_f2x3_scratch_floats(kTileChunk, cin, cout)));
    for (int64_t t = tb; t < te; ++t) {
      const int64_t img = t / per_img, t0 = (t % per_img) * kTileChunk;
      const WinogradImage im{xp + img * h * w * cin, w, cin, h, w};
      winograd_f2x3_tiles(im, u.data(), cout, t0, std::min(kTileChunk, tiles - t0),
                          op + img * h * w * cout, cout, scratch.data());
    }
  });
  from_channels_last(op, n, cout, h, w, out);
}

}  // namespace

bool conv2d_winograd_applies(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.ph == 1 && g.pw == 1 && g.dh == 1 &&
         g.dw == 1 && g.groups == 1 && g.cin >= kMinChannels && g.cout >= kMinChannels &&
         g.oh == g.h && g.ow == g.w;
}

void conv2d_backward_input_winograd(const ConvGeometry& g, const float* w, const float* gy,
                                    float* gx) {
  // gx[c][y][x] = sum over o, i, j of gy[o][y + 1 - i][x + 1 - j] w[o][c][i][j]: the padded
  // correlation of gy with w'[c][o][i][j] = w[o][c][2 - i][2 - j].
  std::vector<float> wr(static_cast<size_t>(g.cin * g.cout * 9));
  for (int64_t o = 0; o < g.cout; ++o)
    for (int64_t c = 0; c < g.cin; ++c)
      for (int64_t t = 0; t < 9; ++t)
        wr[static_cast<size_t>((c * g.cout + o) * 9 + (8 - t))] = w[(o * g.cin + c) * 9 + t];
  run(gy, g.n, g.cout, g.h, g.w, winograd_f2x3_weights(wr.data(), g.cin, g.cout), g.cin, gx);
}

}  // namespace kiln::kernels
