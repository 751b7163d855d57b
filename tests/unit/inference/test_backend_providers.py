"""Execution-provider choice and TensorRT engine-cache keys (the GPU itself cannot run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.core.errors import ModelError
from hmi.inference.backend import choose_providers, engine_cache_dir

ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_auto_prefers_tensorrt_then_cuda_then_cpu():
    assert choose_providers("auto", ALL) == ALL
    assert choose_providers("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ALL[1:]
    assert choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_override_limits_the_choice_and_cpu_is_always_the_fallback():
    assert choose_providers("cuda", ALL) == ALL[1:]
    assert choose_providers("cpu", ALL) == ["CPUExecutionProvider"]
    assert choose_providers("tensorrt", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_unknown_provider_is_refused_in_plain_words():
    with pytest.raises(ModelError, match="auto, tensorrt, cuda, cpu"):
        choose_providers("gpu", ALL)


def test_engine_cache_is_keyed_by_model_gpu_and_tensorrt_version():
    root = Path("/cache")
    base = engine_cache_dir(root, "a" * 64, "NVIDIA H100, 550.54", "10.3.0")
    assert base.parent == root and base.name.startswith("a" * 12)
    assert engine_cache_dir(root, "a" * 64, "NVIDIA H100, 550.54", "10.3.0") == base
    assert engine_cache_dir(root, "b" * 64, "NVIDIA H100, 550.54", "10.3.0") != base
    assert engine_cache_dir(root, "a" * 64, "NVIDIA L4, 550.54", "10.3.0") != base
    assert engine_cache_dir(root, "a" * 64, "NVIDIA H100, 550.54", "10.4.0") != base


class FakeGpuSession:
    """Stands in for onnxruntime.InferenceSession on a machine without a GPU: records what it was asked for
    and reports the first provider offered as the one in use, as ONNX Runtime does when it loads."""

    made: list[dict] = []

    def __init__(self, path: str, sess_options=None, providers=None) -> None:
        self.providers = providers
        FakeGpuSession.made.append({"path": path, "providers": providers})

    def get_providers(self) -> list[str]:
        first = self.providers[0]
        return [first[0] if isinstance(first, tuple) else first, "CPUExecutionProvider"]

    def get_inputs(self) -> list:
        return []

    def get_outputs(self) -> list:
        return []


@pytest.fixture
def fake_gpu(monkeypatch):
    """ONNX Runtime as on an NVIDIA machine with TensorRT: all three providers available, sessions faked."""
    from hmi.inference import backend

    FakeGpuSession.made = []
    monkeypatch.setattr(backend, "available_providers", lambda: list(ALL))
    monkeypatch.setattr(backend.ort, "InferenceSession", FakeGpuSession)
    monkeypatch.setattr(backend, "gpu_identity", lambda: "NVIDIA H100 80GB HBM3, 550.54.15")
    monkeypatch.setattr(backend, "tensorrt_version", lambda: "10.3.0")
    return FakeGpuSession


def test_tensorrt_runs_fp16_with_an_engine_cache_and_one_profile_for_every_tile(fake_gpu, tmp_path):
    from hmi.inference.backend import Session

    shapes = ("image:1x48x48x3", "image:4x512x512x3", "image:4x512x512x3")
    session = Session(tmp_path / "model.onnx", provider="auto", engine_cache=tmp_path / "engines",
                      model_sha256="c" * 64, trt_shapes=shapes)
    assert session.info.label == "tensorrt-fp16"
    providers = fake_gpu.made[-1]["providers"]
    assert [p[0] if isinstance(p, tuple) else p for p in providers] == ALL  # CUDA, then CPU, behind TensorRT
    name, options = providers[0]
    cache = engine_cache_dir(tmp_path / "engines", "c" * 64, "NVIDIA H100 80GB HBM3, 550.54.15", "10.3.0")
    assert options["trt_fp16_enable"] is True and options["trt_engine_cache_enable"] is True
    assert options["trt_engine_cache_path"] == str(cache) and cache.is_dir()
    assert (options["trt_profile_min_shapes"], options["trt_profile_opt_shapes"],
            options["trt_profile_max_shapes"]) == shapes


def test_cuda_is_used_when_asked_and_the_tiled_model_gets_its_profile(fake_gpu, tmp_path):
    from hmi.config.paths import shipped_models_dir
    from hmi.inference.backend import Session
    from hmi.inference.inspector import _trt_shapes
    from hmi.inference.package import ModelPackage

    assert Session(tmp_path / "model.onnx", provider="cuda").info.label == "cuda"
    assert fake_gpu.made[-1]["providers"] == ALL[1:]
    m = ModelPackage.load(shipped_models_dir() / "demo-part").manifest
    assert _trt_shapes(m) == ("image:1x48x48x3", f"image:4x{m.geometry.tile}x{m.geometry.tile}x3",
                              f"image:4x{m.geometry.tile}x{m.geometry.tile}x3")
