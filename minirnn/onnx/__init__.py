"""Export a minirnn model to ONNX, to serve it with onnxruntime (or any ONNX runtime) anywhere.

    model.export("model.onnx", format="onnx")       # or minirnn.onnx.export(model, "model.onnx")

    import onnxruntime as ort
    session = ort.InferenceSession("model.onnx")
    y = session.run(None, {session.get_inputs()[0].name: x})[0]     # == model.predict(x)

Exports Sequential and functional models (nested models inlined) of SimpleRNN, LSTM, GRU (both
``reset_after`` forms), Bidirectional (every merge mode), with return_sequences, return_state,
go_backwards, initial states and masks; Dense, Conv1D, MaxPooling1D, the global poolings,
Embedding, Masking, Dropout (the identity), Flatten, Reshape, Permute, RepeatVector, Rescaling,
TimeDistributed, the merge layers, and Lambda layers built from :mod:`minirnn.ops`.  Batch and
time axes stay free.  The graph uses opset 17 and needs only the ``onnx`` package to build
(``pip install 'minirnn[onnx]'``).  How the recurrent layers map: :mod:`minirnn.onnx.recurrent`.
"""
import os

from ..saving.atomic import atomic_write
from .convert import DEFAULT_OPSET, refusals, to_onnx

ONNX_SUFFIX = ".onnx"


def export(model, filepath, opset=DEFAULT_OPSET, mask_padding="any", recurrent_form="auto"):
    """Write `model` as an ONNX file at `filepath` (``.onnx``), atomically; returns the ModelProto.

    ``mask_padding``: ``"any"`` (default) runs masked recurrent layers step by step in a Scan, exact
    for any mask; ``"right"`` promises every mask is a run of real steps then padding (Keras's
    ``pad_sequences(..., padding="post")``) and uses the native operators with ``sequence_lens``,
    which are faster but wrong for other masks.  ``recurrent_form="scan"`` writes every recurrent
    layer as a Scan, for runtimes without the native RNN, LSTM and GRU operators.

    A layer that has no ONNX form raises a ValueError naming it (and every other such layer)
    before anything is written."""
    path = os.fspath(filepath)
    if not path.endswith(ONNX_SUFFIX):
        raise ValueError(f"ONNX export writes files whose name ends in {ONNX_SUFFIX!r}, received {path!r}")
    proto = to_onnx(model, opset=opset, mask_padding=mask_padding, recurrent_form=recurrent_form)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return proto


__all__ = ["export", "to_onnx", "refusals", "DEFAULT_OPSET"]
