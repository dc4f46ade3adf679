"""Export to ONNX (fp32 or int8); exported folders run on onnxruntime
(`transferkit.models.onnx_runtime`, re-exported here).

Needs the `export` extra: pip install 'transferkit[export]' (onnx, onnxruntime).
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_onnx", "load_onnx_model", "is_onnx_folder", "OnnxModel", "quantise_int8"]


def __getattr__(name: str) -> Any:
    # Lazy: importing transferkit.export must not import torch.onnx/onnxruntime.
    if name in ("export_onnx", "parity_check"):
        from transferkit.export import onnx

        return getattr(onnx, name)
    if name == "quantise_int8":
        from transferkit.export import quantise

        return quantise.quantise_int8
    if name in ("load_onnx_model", "is_onnx_folder", "OnnxModel"):
        from transferkit.models import onnx_runtime

        return getattr(onnx_runtime, name)
    raise AttributeError(f"module 'transferkit.export' has no attribute {name!r}")
