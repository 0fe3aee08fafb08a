// Pillow's colour code re-derived from its behaviour: Blend.c's float32 interpolation, rgb2l's
// fixed-point luma, and Convert.c's RGB <-> HSV, which mixes float variables with double
// constants; the same C types are used here so every intermediate rounds as it does there.
// (This file is compiled with -ffp-contract=off: a fused multiply-add would round differently.)
#include "data/image_color.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace kiln::data {
namespace {

// Pillow's ImagingBlend(degenerate, image, alpha) with alpha as a C float.
Image blend(const Image& degenerate, const Image& image, double factor) {
  const auto alpha = static_cast<float>(factor);
  if (alpha == 0.0f) return degenerate;
  if (alpha == 1.0f) return image;
  Image out(image.width, image.height);
  const bool interpolate = alpha >= 0 && alpha <= 1.0;
  for (size_t i = 0; i < image.rgb.size(); ++i) {
    const int a = degenerate.rgb[i], b = image.rgb[i];
    const float v = static_cast<float>(a) + alpha * static_cast<float>(b - a);
    if (interpolate) {
      out.rgb[i] = static_cast<uint8_t>(v);
    } else {
      out.rgb[i] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<uint8_t>(v);
    }
  }
  return out;
}

// Pillow's convert("L"): ITU-R 601-2 luma in 16.16 fixed point.
uint8_t luma(const uint8_t* p) {
  return static_cast<uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
}

uint8_t clip8(int v) {
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

void rgb_to_hsv(const uint8_t* in, uint8_t* out) {
  const uint8_t r = in[0], g = in[1], b = in[2];
  const uint8_t maxc = std::max({r, g, b}), minc = std::min({r, g, b});
  uint8_t uh = 0, us = 0;
  if (minc != maxc) {
    const float cr = static_cast<float>(maxc - minc);
    const float s = cr / static_cast<float>(maxc);
    const float rc = static_cast<float>(maxc - r) / cr;
    const float gc = static_cast<float>(maxc - g) / cr;
    const float bc = static_cast<float>(maxc - b) / cr;
    float h;
    if (r == maxc) {
      h = bc - gc;
    } else if (g == maxc) {
      h = 2.0 + rc - bc;  // double arithmetic, rounded to float, as in Pillow
    } else {
      h = 4.0 + gc - rc;
    }
    h = std::fmod((h / 6.0 + 1.0), 1.0);
    uh = clip8(static_cast<int>(h * 255.0));
    us = clip8(static_cast<int>(s * 255.0));
  }
  out[0] = uh;
  out[1] = us;
  out[2] = maxc;
}

void hsv_to_rgb(const uint8_t* in, uint8_t* out) {
  const uint8_t h = in[0], s = in[1], v = in[2];
  if (s == 0) {
    out[0] = out[1] = out[2] = v;
    return;
  }
  const int i = static_cast<int>(std::floor(static_cast<float>(h) * 6.0 / 255.0));
  const float f = static_cast<float>(h) * 6.0 / 255.0 - static_cast<float>(i);
  const float fs = static_cast<float>(s) / 255.0;
  const uint8_t p = clip8(static_cast<int>(std::round(static_cast<float>(v) * (1.0 - fs))));
  const uint8_t q = clip8(static_cast<int>(std::round(static_cast<float>(v) * (1.0 - fs * f))));
  const uint8_t t =
      clip8(static_cast<int>(std::round(static_cast<float>(v) * (1.0 - fs * (1.0 - f)))));
  const uint8_t table[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  for (int c = 0; c < 3; ++c) out[c] = table[i % 6][c];
}

}  // namespace

Image adjust_brightness(const Image& image, double factor) {
  return blend(Image(image.width, image.height), image, factor);
}

Image adjust_contrast(const Image& image, double factor) {
  int64_t sum = 0;
  const int64_t n = image.width * image.height;
  for (int64_t i = 0; i < n; ++i) sum += luma(&image.rgb[3 * i]);
  // ImageStat's mean as a Python float, then int(mean + 0.5).
  const auto mean = static_cast<uint8_t>(static_cast<double>(sum) / static_cast<double>(n) + 0.5);
  Image gray(image.width, image.height);
  std::fill(gray.rgb.begin(), gray.rgb.end(), mean);
  return blend(gray, image, factor);
}

Image adjust_saturation(const Image& image, double factor) {
  Image gray(image.width, image.height);
  for (size_t i = 0; i < image.rgb.size(); i += 3)
    gray.rgb[i] = gray.rgb[i + 1] = gray.rgb[i + 2] = luma(&image.rgb[i]);
  return blend(gray, image, factor);
}

Image adjust_hue(const Image& image, double hue) {
  KILN_CHECK(hue >= -0.5 && hue <= 0.5, "adjust_hue: the hue shift must be in [-0.5, 0.5], got ",
             hue);
  // numpy's uint8(hue * 255): truncated toward zero, then taken modulo 256.
  const auto shift = static_cast<uint8_t>(static_cast<int64_t>(hue * 255));
  Image out(image.width, image.height);
  for (size_t i = 0; i < image.rgb.size(); i += 3) {
    uint8_t hsv[3];
    rgb_to_hsv(&image.rgb[i], hsv);
    hsv[0] = static_cast<uint8_t>(hsv[0] + shift);
    hsv_to_rgb(hsv, &out.rgb[i]);
  }
  return out;
}

}  // namespace kiln::data
