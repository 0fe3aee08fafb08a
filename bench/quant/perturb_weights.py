# Writes a copy of a kiln (safetensors) model whose 2-D f32 weights (position tables excepted) are
# multiplied elementwise by (1 + eps * N(0, 1)): the noise floor of a quality comparison, i.e. how
# much a metric moves for a change of known, harmless size (bench/RESULTS.md, summarizer
# quantization). The copy keeps the original's kiln.data_sha256, so load it with --no-verify.
#   python3 bench/quant/perturb_weights.py MODEL.kiln OUT.kiln EPS SEED   (needs numpy)
import json, struct, sys
import numpy as np
src, dst, eps, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
raw = open(src, 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = bytearray(raw[8 + n:])
rng = np.random.default_rng(seed)
count = 0
for name, t in header.items():
    if name == '__metadata__' or t['dtype'] != 'F32' or len(t['shape']) != 2 or 'embed_positions' in name:
        continue
    a, b = t['data_offsets']
    w = np.frombuffer(bytes(data[a:b]), dtype='<f4')
    w = (w * (1 + eps * rng.standard_normal(w.shape))).astype('<f4')
    data[a:b] = w.tobytes()
    count += 1
open(dst, 'wb').write(raw[:8 + n] + bytes(data))
print(f'{count} tensors perturbed by eps={eps}', file=sys.stderr)
