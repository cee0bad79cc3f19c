"""mpanalyze_trace: record the decoder stages of a PyTorch Mask2Former-style
model into an mpanalyze trace (probes/TRACE.md), read by every mpanalyze
command that reads traces (analyze, compare --trace, plot --trace, report
--trace).

- ``TraceWriter``: the writer, full or compact layout (``trace``).
- ``Detectron2Recorder``, ``MPFormerRecorder``, ``HFRecorder``: adapters that
  turn the outputs of a detectron2 Mask2Former, the official MP-Former
  decoder or HF transformers' Mask2Former and the batch's GT into trace
  images, cropping each image's padding (``adapters``, ``frame``).

docs/own-model.md is the walk-through.
"""

from .adapters import Detectron2Recorder, HFRecorder, MPFormerRecorder, Recorder, official_stages
from .frame import PAD_LOGIT, cells, frame_cells, gt_in_frame, place_image
from .trace import (FORMAT, PACKAGE_VERSION, TOOL, VERSION, TraceWriter, attention_mask, attention_sizes,
                    gt_at_stride, gt_cover_at_stride, hungarian, record, rle, stages_from_outputs, to_float16,
                    trace_paths, unrle)

__version__ = PACKAGE_VERSION

__all__ = [
    "Detectron2Recorder", "FORMAT", "HFRecorder", "MPFormerRecorder", "PAD_LOGIT", "PACKAGE_VERSION", "Recorder",
    "TOOL", "TraceWriter", "VERSION", "attention_mask", "attention_sizes", "cells", "frame_cells", "gt_at_stride",
    "gt_cover_at_stride", "gt_in_frame", "hungarian", "official_stages", "place_image", "record", "rle",
    "stages_from_outputs", "to_float16", "trace_paths", "unrle",
]
