"""ONNX Runtime sessions with execution-provider auto-selection; the only onnxruntime import."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnxruntime as ort

from hmi.core.errors import ModelError

log = logging.getLogger(__name__)

_PROVIDER_ORDER = {
    "auto": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "cpu": ["CPUExecutionProvider"],
}
_SHORT = {"TensorrtExecutionProvider": "tensorrt", "CUDAExecutionProvider": "cuda", "CPUExecutionProvider": "cpu"}


def available_providers() -> list[str]:
    """Execution providers this ONNX Runtime build offers on this machine."""
    return list(ort.get_available_providers())


def choose_providers(preference: str, available: list[str]) -> list[str]:
    """Providers to try, best first, among those available; CPU is always last."""
    if preference not in _PROVIDER_ORDER:
        raise ModelError(f"unknown inference provider '{preference}'", "use one of: auto, tensorrt, cuda, cpu")
    chosen = [p for p in _PROVIDER_ORDER[preference] if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def gpu_identity() -> str:
    """Name of the first NVIDIA GPU and its driver, or '' when there is none (for engine-cache keys)."""
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=5, check=False)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    except (OSError, IndexError, ValueError, Exception):  # noqa: BLE001 - no GPU tooling means no GPU
        return ""


def runtime_version() -> str:
    """Version of the ONNX Runtime the station runs models with."""
    return ort.__version__


def tensorrt_version() -> str:
    """Version of the TensorRT library ONNX Runtime would load, or '' when absent."""
    try:
        from importlib.metadata import version

        return version("tensorrt")
    except Exception:  # noqa: BLE001
        return ""


def engine_cache_dir(root: Path, model_sha256: str, gpu: str, trt_version: str) -> Path:
    """Engine-cache folder keyed by model hash, GPU and TensorRT version, so a change of any rebuilds."""
    key = hashlib.sha256(f"{model_sha256}|{gpu}|{trt_version}".encode()).hexdigest()[:16]
    return root / f"{model_sha256[:12]}-{key}"


@dataclass(frozen=True)
class BackendInfo:
    """Which provider actually runs the model; shown in the UI and stored with every record."""

    provider: str
    threads: int

    @property
    def label(self) -> str:
        """Short name like 'cpu', 'cuda', 'tensorrt-fp16'."""
        return self.provider

    @property
    def spares_cores(self) -> bool:
        """True when the model leaves CPU cores free while it runs: a GPU runs it, or it runs on fewer threads
        than the machine has cores (the inference stages then overlap consecutive parts)."""
        return self.provider != "cpu" or self.threads < (os.cpu_count() or 1)


class Session:
    """A loaded ONNX model ready to run; one per inference thread."""

    def __init__(self, onnx_path: Path, provider: str = "auto", threads: int = 0,
                 engine_cache: Path | None = None, model_sha256: str = "",
                 trt_shapes: tuple[str, str, str] | None = None) -> None:
        """`trt_shapes`: TensorRT's (min, opt, max) input shapes for a graph with free dimensions, e.g.
        ('image:1x48x48x3', 'image:4x512x512x3', 'image:4x512x512x3'), so one engine serves every tile size."""
        providers = choose_providers(provider, available_providers())
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        n = threads or os.cpu_count() or 1
        opts.intra_op_num_threads = n
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Spinning worker threads steal the cores the camera, store and PLC threads need between runs.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        provider_args: list[Any] = []
        for p in providers:
            if p == "TensorrtExecutionProvider":
                cache = engine_cache_dir(engine_cache or Path("engines"), model_sha256, gpu_identity(), tensorrt_version())
                cache.mkdir(parents=True, exist_ok=True)
                trt = {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                       "trt_engine_cache_path": str(cache), "trt_timing_cache_enable": True,
                       "trt_timing_cache_path": str(cache)}
                if trt_shapes is not None:
                    trt |= dict(zip(("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes"),
                                    trt_shapes))
                provider_args.append((p, trt))
            else:
                provider_args.append(p)
        try:
            self._sess = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=provider_args)
        except Exception as exc:  # noqa: BLE001 - ORT raises several unrelated types for a bad file
            raise ModelError(f"ONNX Runtime cannot load {onnx_path.name}: {str(exc).splitlines()[0][:200]}",
                             "the file is not a valid ONNX model for this station; rebuild or re-import it") from None
        active = self._sess.get_providers()[0]
        label = _SHORT.get(active, active)
        if active == "TensorrtExecutionProvider":
            label = "tensorrt-fp16"
        self.info = BackendInfo(label, n)
        self.input_names = [i.name for i in self._sess.get_inputs()]
        self.output_names = [o.name for o in self._sess.get_outputs()]
        self.file_name = onnx_path.name

    def inputs(self) -> list[tuple[str, list[Any], str]]:
        """(name, shape, type) of each graph input."""
        return [(i.name, list(i.shape), i.type) for i in self._sess.get_inputs()]

    def outputs(self) -> list[tuple[str, list[Any], str]]:
        """(name, shape, type) of each graph output."""
        return [(o.name, list(o.shape), o.type) for o in self._sess.get_outputs()]

    def metadata(self) -> dict[str, str]:
        """The model's custom metadata (exporters put class names, normalisation there)."""
        return dict(self._sess.get_modelmeta().custom_metadata_map)

    def run(self, feeds: Mapping[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        """Run the graph; returns output name -> array."""
        names = outputs or self.output_names
        try:
            values = self._sess.run(names, dict(feeds))
        except Exception as exc:  # noqa: BLE001 - ORT raises several unrelated types; none may reach people raw
            given = ", ".join(f"{k} {'×'.join(map(str, v.shape))} {v.dtype}" for k, v in feeds.items())
            detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise ModelError(f"ONNX Runtime cannot run {self.file_name} on {given} ({detail})",
                             "the model package does not fit its ONNX file or this frame; re-import it with "
                             "'hmi model import' or teach it again with 'hmi teach'") from None
        return dict(zip(names, values))
