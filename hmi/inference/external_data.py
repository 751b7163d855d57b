"""ONNX external data: the weight files an ONNX file names beside itself (anomalib 2.7 and PyTorch's exporter
write `model.onnx` + `model.onnx.data`). They travel into the model package with it and under its hash."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx.external_data_helper import _get_all_tensors

from hmi.core.errors import ModelError


def external_data_files(onnx_path: Path) -> list[str]:
    """Names of the files holding the ONNX file's external weights, each checked to lie beside it (ModelError)."""
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a damaged file
        raise ModelError(f"{onnx_path.name} is not a readable ONNX file ({str(exc).splitlines()[0][:160]})",
                         "export the model again") from None
    names: set[str] = set()
    for tensor in _get_all_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        if not location or Path(location).name != location or location.startswith("."):
            raise ModelError(f"{onnx_path.name} keeps weights in '{location}', which is not a file beside it",
                             "export the model again with its data file next to the .onnx file")
        if not (onnx_path.parent / location).is_file():
            raise ModelError(f"{onnx_path.name} keeps its weights in {location}, which is not beside it in "
                             f"{onnx_path.parent}", f"copy {location} next to {onnx_path.name}, then import again")
        names.add(location)
    return sorted(names)
