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
