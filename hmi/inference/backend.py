"""ONNX Runtime sessions with execution-provider auto-selection; the only onnxruntime import."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from hmi.core.errors import ModelError
from hmi.inference.bank_search import FEATURES, WEIGHTED, ClusteredBank, SplitGraph, split_scoring_graph

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
    bank_search: str = "whole"  # "clusters" where numpy searches the memory bank by clusters (bank_search.py)

    @property
    def label(self) -> str:
        """Short name like 'cpu', 'cpu-clusters', 'cuda', 'tensorrt-fp16'."""
        return self.provider if self.bank_search == "whole" else f"{self.provider}-{self.bank_search}"

    @property
    def spares_cores(self) -> bool:
        """True when the model leaves CPU cores free while it runs: a GPU runs it, or it runs on fewer threads
        than the machine has cores (the inference stages then overlap consecutive parts)."""
        return self.provider != "cpu" or self.threads < (os.cpu_count() or 1)


class Session:
    """A loaded ONNX model ready to run; one per inference thread."""

    def __init__(self, onnx_path: Path, provider: str = "auto", threads: int = 0,
                 engine_cache: Path | None = None, model_sha256: str = "",
                 trt_shapes: tuple[str, str, str] | None = None, bank_search: str = "clusters") -> None:
        """`trt_shapes`: TensorRT's (min, opt, max) input shapes for a graph with free dimensions, e.g.
        ('image:1x48x48x3', 'image:4x512x512x3', 'image:4x512x512x3'), so one engine serves every tile size.
        `bank_search`: "clusters" lets a model taught on the station search its memory bank by clusters when
        it runs on the CPU (bank_search.py); "whole" always runs the graph's search over the whole bank."""
        if bank_search not in ("clusters", "whole"):
            raise ModelError(f"unknown memory-bank search '{bank_search}'", "use one of: clusters, whole")
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
        self.file_name = onnx_path.name
        self._sess = self._load(str(onnx_path), opts, provider_args)
        active = self._sess.get_providers()[0]
        label = _SHORT.get(active, active)
        if active == "TensorrtExecutionProvider":
            label = "tensorrt-fp16"
        self.input_names = [i.name for i in self._sess.get_inputs()]
        self.output_names = [o.name for o in self._sess.get_outputs()]
        split = _split(onnx_path) if bank_search == "clusters" and label == "cpu" else None
        # The whole graph stays loaded: it states the model's inputs and outputs, as every provider runs it.
        self._searched = None if split is None else _SearchedRun(
            self._load(split.front.SerializeToString(), opts, ["CPUExecutionProvider"]),
            self._load(split.back.SerializeToString(), opts, ["CPUExecutionProvider"]),
            ClusteredBank(split.bank, split.weights, threads=n, matmul=CpuMatMul()))
        self.info = BackendInfo(label, n, "clusters" if split is not None else "whole")

    def _load(self, model: str | bytes, opts: ort.SessionOptions, providers: list[Any]) -> ort.InferenceSession:
        try:
            return ort.InferenceSession(model, sess_options=opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises several unrelated types for a bad file
            raise ModelError(f"ONNX Runtime cannot load {self.file_name}: {str(exc).splitlines()[0][:200]}",
                             "the file is not a valid ONNX model for this station; rebuild or re-import it") from None

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
            if self._searched is None:
                values = self._sess.run(names, dict(feeds))
            else:
                values = self._searched.run(names, feeds)
        except Exception as exc:  # noqa: BLE001 - ORT raises several unrelated types; none may reach people raw
            given = ", ".join(f"{k} {'×'.join(map(str, v.shape))} {v.dtype}" for k, v in feeds.items())
            detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise ModelError(f"ONNX Runtime cannot run {self.file_name} on {given} ({detail})",
                             "the model package does not fit its ONNX file or this frame; re-import it with "
                             "'hmi model import' or teach it again with 'hmi teach'") from None
        return dict(zip(names, values))


class _SearchedRun:
    """A taught graph run in its two halves on the CPU, with numpy's bank search by clusters between them."""

    def __init__(self, front: ort.InferenceSession, back: ort.InferenceSession, bank: ClusteredBank) -> None:
        self.front, self.back, self.bank = front, back, bank
        self.front_outputs = [o.name for o in front.get_outputs()]
        self.back_inputs = {i.name for i in back.get_inputs()}

    def run(self, names: list[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The graph's `names` outputs for `feeds`, as the whole graph gives them (searched by clusters)."""
        carried = dict(zip(self.front_outputs, self.front.run(None, dict(feeds))))
        features = carried.pop(FEATURES)
        carried[WEIGHTED] = self.bank.weighted_distances(features)
        carried |= {name: value for name, value in feeds.items() if name in self.back_inputs}
        return self.back.run(names, carried)


class CpuMatMul:
    """a @ b for two float32 matrices by ONNX Runtime's CPU kernels, on the calling thread alone.

    For the bank search's shapes ([patches, 65] x [65, about 140]) they ran about twice as fast as numpy's
    BLAS on one core (docs/performance.md). Calls from several threads at once are safe."""

    def __init__(self) -> None:
        """One session holding a single MatMul of free shapes."""
        matrix = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, None]) for name in ("a", "b", "c")]
        graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul", matrix[:2], matrix[2:])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="inspection-station")
        model.ir_version = 8
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The product of a [n, k] and b [k, m], float32 [n, m]."""
        return self._sess.run(None, {"a": a, "b": b})[0]


def _split(onnx_path: Path) -> SplitGraph | None:
    """The taught model's graph cut around its bank search, or None (not such a model, or unreadable here)."""
    try:
        return split_scoring_graph(onnx.load(str(onnx_path)))
    except Exception:  # noqa: BLE001 - whatever onnx cannot read, ONNX Runtime has read: it runs whole
        log.warning("%s: the memory-bank search is run whole (the graph could not be split)", onnx_path.name)
        return None
