// The primitive ops. Each is differentiable where the maths allows (see OpInfo in its .cpp), works
// on f32 and f64 (f64 is the reference precision the op tests use), accepts any strided view and
// broadcasts binary operands like NumPy. Integer tensors (indices, targets, masks) are I64/I32 or
// U8. Forward and backward of each op live side by side in core/ops/<family>.cpp.
#pragma once

#include <optional>
#include <vector>

#include "core/tensor.h"

namespace kiln {
namespace gemm {
class PackedB;
}

class Generator;

// ---- element-wise binary (broadcasting) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);  // grad to the larger (ties: to a)
// Scalar forms broadcast a 0-d tensor of the same dtype.
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor pow(const Tensor& a, double exponent);

// ---- element-wise unary ----
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor erf(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor relu(const Tensor& a);
enum class GeluApprox { None, Tanh };  // None: x * Phi(x) with erf; Tanh: the GPT-2 approximation
Tensor gelu(const Tensor& a, GeluApprox approx = GeluApprox::None);
Tensor silu(const Tensor& a);
Tensor sigmoid(const Tensor& a);

// ---- reductions ----
Tensor sum(const Tensor& a);  // all elements -> 0-d
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
// sum(mul(a, a)) in one pass without the full-size temporary, with the same bits (the same
// rounded products and the same summation blocks). No backward (gradient clipping needs none).
Tensor sum_of_squares(const Tensor& a);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor max(const Tensor& a, int64_t dim, bool keepdim = false);     // values; grad to first max
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);  // I64, first max wins
// Sums `a` down to `shape` (the inverse of broadcasting); used by binary-op backward.
Tensor sum_to(const Tensor& a, const Shape& shape);

// ---- softmax family (fused, stable) ----
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

// ---- normalisation over the last dimension ----
// weight/bias may be undefined (no affine part). Statistics use a two-pass variance, accumulated
// in f64 for f32 inputs.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps);

// ---- linear algebra ----
// a[..., M, K] @ b[..., K, N] with broadcast batch dims; 1-D b is treated as [K, 1] and squeezed.
// Transposed views are passed to GEMM as transposes, not copied.
Tensor matmul(const Tensor& a, const Tensor& b);
// x[..., in] @ w[out, in]^T + bias[out] (bias may be undefined), as in torch.nn.Linear.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);
// The same with w^T pre-packed for the GEMM (f32; inference only: not recorded by autograd, so x
// must not require grad), optionally fused with what follows it in a transformer layer:
// activation(x w^T + bias) + residual, computed per C tile inside the GEMM. Same bits as
// linear -> gelu -> add.
enum class LinearActivation { kNone, kGelu };
Tensor linear_prepacked(const Tensor& x, const gemm::PackedB& w_t, const Tensor& bias,
                        LinearActivation activation = LinearActivation::kNone,
                        const Tensor& residual = Tensor());

// ---- indexing ----
Tensor embedding(const Tensor& weight, const Tensor& indices);  // weight[V, D], indices int
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& indices);  // indices 1-D int
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);          // as torch.gather
Tensor concat(const std::vector<Tensor>& parts, int64_t dim);
Tensor stack(const std::vector<Tensor>& parts, int64_t dim);
std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim);
// cond is U8 (non-zero = true); all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);

// ---- stochastic ----
// Inverted dropout: keeps each element with probability 1-p and scales kept ones by 1/(1-p).
// The mask depends only on the generator's seed/offset and the element index, never on threads.
Tensor dropout(const Tensor& a, double p, bool training, Generator& gen);

// ---- losses ----
enum class Reduction { None, Mean, Sum };
struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Tensor class_weights;  // optional [C]
  Reduction reduction = Reduction::Mean;
};
// logits[N, C] (or [C]), targets[N] integer class ids. Mean reduction divides by the summed weight
// of non-ignored targets, as torch.nn.functional.cross_entropy does.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options = {});

// ---- attention ----
struct AttentionOptions {
  Tensor key_padding_mask;  // optional U8/I64 [B, Lk]: non-zero = attend, 0 = padding
  bool causal = false;      // query i attends to keys j <= i + (Lk - Lq)
  double scale = 0.0;       // 0 means 1/sqrt(head_dim)
  // Dropout on the probabilities (as Hugging Face's attention_probs_dropout_prob), active when
  // dropout_p > 0 and dropout_generator is set: exactly dropout(P, p, true, gen) on the
  // [B, H, Lq, Lk] probabilities, same counters, but the mask is regenerated in backward instead
  // of being stored.
  double dropout_p = 0.0;
  Generator* dropout_generator = nullptr;
};
// q[B, H, Lq, D], k[B, H, Lk, D], v[B, H, Lk, Dv] -> [B, H, Lq, Dv]. One fused op: the backward
// recomputes nothing it saved (it keeps the probabilities). Fully masked rows give zeros.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options = {});

// ---- shape and copies (views where possible) ----
Tensor reshape(const Tensor& a, const Shape& shape);  // one dim may be -1
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor select(const Tensor& a, int64_t dim, int64_t index);
Tensor expand(const Tensor& a, const Shape& shape);  // -1 keeps a dim
Tensor unsqueeze(const Tensor& a, int64_t dim);
Tensor squeeze(const Tensor& a, int64_t dim);
Tensor contiguous(const Tensor& a);
Tensor clone(const Tensor& a);
Tensor cast(const Tensor& a, DType dtype);  // differentiable between floating types

// Broadcast shape of two shapes; throws naming both when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);
// Normalises a possibly negative dim against rank; throws when out of range.
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op);

// ---- in-place helpers for optimizers and initialisers (never recorded; refuse tensors that
//      require grad while grad mode is on) ----
// Every write into an existing tensor starts here, including kernels that then write through raw
// pointers (optimizer updates, caches, running statistics). Throws unless dst may be written in
// place: it must not require grad while grad mode is on, and must not be a view of a read-only
// mapped file (`op` names the caller in the message). Then bumps the version of dst's storage,
// which makes a pending backward that saved any view of it throw instead of using the new values.
void begin_in_place_write(const Tensor& dst, const char* op);
void copy_(const Tensor& dst, const Tensor& src);  // broadcasting, converting copy
void fill_(const Tensor& dst, double value);
void mul_(const Tensor& dst, double s);  // in place, the same bits as mul(dst, s)
// Fills a contiguous, writable floating tensor in place with std * standard-normal draws: the
// values and generator advance of copy_(t, mul(Tensor::randn(t.shape(), gen, F64), std)) (draw in
// f64, scaled in f64, one rounding to t's dtype), without that composition's f64 temporaries.
// Defined beside Tensor::randn (core/tensor.cpp).
void fill_randn_(const Tensor& t, Generator& gen, double std);

}  // namespace kiln
