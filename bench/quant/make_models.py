#!/usr/bin/env python3
"""Models for bench/quant/run.sh (quantized speed against PyTorch and ONNX Runtime), built from
configs with seeded random weights (nothing is downloaded):

  make_models.py hf-bert DIR     transformers' BertForSequenceClassification, BERT-base shape, the
                                 weights bench/bert/torch_bert.py times (hf_model(), seed 42),
                                 saved with save_pretrained for `kiln convert`
  make_models.py hf-bart DIR     BartForConditionalGeneration, BART-base shape (torch_bart.py's
                                 base_config(), seed 42), saved likewise
  make_models.py ort-int8 MODEL.onnx OUTDIR
                                 onnxruntime.quantization.quantize_dynamic of MODEL (the fused
                                 graph of bench/bert/ort_bert.py --export) in each weight type
                                 (QInt8 = u8 x s8 on VNNI, QUInt8 = u8 x u8) and with per-tensor or
                                 per-channel weight scales: OUTDIR/bert_int8_<type>_<pt|pc>.onnx
  make_models.py torch-sizes     bytes of torch.save(state_dict) of the BERT and BART models in
                                 f32 and after quantize_dynamic (qint8), one line per model

Needs the PyPI packages of bench/bert/run.sh (torch, transformers, onnxruntime, onnx).
"""
import io
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree for these imports
sys.path.insert(0, os.path.join(HERE, "..", "bert"))
sys.path.insert(0, os.path.join(HERE, "..", "bart"))


def bert():
    from torch_bert import hf_model
    model = hf_model("eager").eval()
    # transformers 5 leaves default labels (LABEL_0, ...) out of config.json; kiln convert needs them.
    model.config.id2label = {0: "negative", 1: "positive"}
    model.config.label2id = {"negative": 0, "positive": 1}
    return model


def bart():
    import torch
    import transformers
    from torch_bart import base_config
    torch.manual_seed(42)  # as torch_bart.py
    return transformers.BartForConditionalGeneration(base_config()).eval()


def save_hf(model, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)  # config.json + model.safetensors
    print("saved", out_dir)


def ort_int8(src, out_dir):
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic
    os.makedirs(out_dir, exist_ok=True)
    for wtype, tname in ((QuantType.QInt8, "s8"), (QuantType.QUInt8, "u8")):
        for per_channel, cname in ((False, "pt"), (True, "pc")):
            out = os.path.join(out_dir, f"bert_int8_{tname}_{cname}.onnx")
            # ONNX shape inference cannot type the outputs of the fused contrib ops (Attention,
            # SkipLayerNormalization); they are float, which DefaultTensorType says.
            quantize_dynamic(src, out, weight_type=wtype, per_channel=per_channel,
                             extra_options={"DefaultTensorType": TensorProto.FLOAT})
            print("quantized", out, os.path.getsize(out))


def torch_sizes():
    import torch
    import torch.nn as nn
    for name, make in (("bert", bert), ("bart", bart)):
        for q in (False, True):
            m = make()
            if q:
                m = torch.ao.quantization.quantize_dynamic(m, {nn.Linear}, dtype=torch.qint8)
            buf = io.BytesIO()
            torch.save(m.state_dict(), buf)
            print(f"torch-size model={name} weights={'int8-dynamic' if q else 'f32'} "
                  f"file_mb={buf.tell() / 1048576:.1f}")


def main(argv):
    if len(argv) == 2 and argv[0] == "hf-bert":
        return save_hf(bert(), argv[1])
    if len(argv) == 2 and argv[0] == "hf-bart":
        return save_hf(bart(), argv[1])
    if len(argv) == 3 and argv[0] == "ort-int8":
        return ort_int8(argv[1], argv[2])
    if argv == ["torch-sizes"]:
        return torch_sizes()
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
