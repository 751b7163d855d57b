"""The scoring graph computes exactly the PatchCore arithmetic, checked against NumPy through real ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hmi.core.errors import ModelError
from hmi.inference import scoring_graph as sg
from hmi.inference.backend import Session

SIZE = 64


def tiny_backbone(rng: np.random.Generator) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    """A stand-in backbone whose maps NumPy can compute: block means at strides 8 and 16, then 1x1 convolutions."""
    w8 = rng.normal(size=(4, 3, 1, 1)).astype(np.float32)
    w16 = rng.normal(size=(5, 3, 1, 1)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["input"], ["m8"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Conv", ["m8", "w8"], ["feat_s8"]),
        helper.make_node("AveragePool", ["input"], ["m16"], kernel_shape=[16, 16], strides=[16, 16]),
        helper.make_node("Conv", ["m16", "w16"], ["feat_s16"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("feat_s8", TensorProto.FLOAT, ["n", 4, "h8", "w8"]),
         helper.make_tensor_value_info("feat_s16", TensorProto.FLOAT, ["n", 5, "h16", "w16"])],
        [numpy_helper.from_array(w8, "w8"), numpy_helper.from_array(w16, "w16")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, w8[:, :, 0, 0], w16[:, :, 0, 0]


def block_mean(x: np.ndarray, k: int) -> np.ndarray:
    """[N, C, H, W] -> mean over k x k blocks."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))


def pool3_no_pad_count(x: np.ndarray) -> np.ndarray:
    """3x3 mean with stride 1 where the border cells average only the cells that exist."""
    n, c, h, w = x.shape
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            out[:, :, i, j] = x[:, :, max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].mean(axis=(2, 3))
    return out


def upsample2_half_pixel(x: np.ndarray) -> np.ndarray:
    """Bilinear x2 with half-pixel centres and edge clamping (ONNX Resize linear, half_pixel)."""
    n, c, h, w = x.shape

    def axis_weights(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.clip((np.arange(2 * size) + 0.5) / 2 - 0.5, 0, size - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, size - 1)
        return lo, hi, src - lo

    r0, r1, fr = axis_weights(h)
    c0, c1, fc = axis_weights(w)
    rows = x[:, :, r0] * (1 - fr)[None, None, :, None] + x[:, :, r1] * fr[None, None, :, None]
    return rows[..., c0] * (1 - fc) + rows[..., c1] * fc


def blur_edge(m: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """[N, h, w] correlated with kernel after edge padding."""
    r = kernel.shape[0] // 2
    padded = np.pad(m, ((0, 0), (r, r), (r, r)), mode="edge")
    out = np.zeros_like(m)
    for di in range(kernel.shape[0]):
        for dj in range(kernel.shape[1]):
            out += kernel[di, dj] * padded[:, di:di + m.shape[1], dj:dj + m.shape[2]]
    return out


def nearest_distance(feats: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """[N, P, C] x [M, C] -> distance of each patch to its nearest bank row, in float64."""
    diff = feats[:, :, None, :].astype(np.float64) - bank[None, None].astype(np.float64)
    return np.sqrt((diff ** 2).sum(-1).min(-1))


def run(model: onnx.ModelProto, tmp_path: Path, images: np.ndarray, name: str = "model.onnx") -> dict[str, np.ndarray]:
    path = tmp_path / name
    onnx.save(model, str(path))
    return Session(path, provider="cpu", threads=1).run({sg.IMAGE_INPUT: images})


def test_scoring_graph_matches_numpy_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    backbone, w8, w16 = tiny_backbone(rng)
    images = rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    bank = rng.normal(size=(7, 9)).astype(np.float32)

    out = run(sg.scoring_graph(backbone, SIZE, bank, blur_sigma=0.5), tmp_path, images)

    x = images.astype(np.float64).transpose(0, 3, 1, 2) / 255.0
    x = (x - 0.5) / 0.5
    f8 = np.einsum("oc,nchw->nohw", w8, block_mean(x, 8))
    f16 = np.einsum("oc,nchw->nohw", w16, block_mean(x, 16))
    feats = np.concatenate([pool3_no_pad_count(f8), upsample2_half_pixel(pool3_no_pad_count(f16))], axis=1)
    side = SIZE // 8
    patches = feats.reshape(2, 9, side * side).transpose(0, 2, 1)
    raw = nearest_distance(patches, bank).reshape(2, side, side)
    expected_map = blur_edge(raw, sg.gaussian_kernel(0.5).astype(np.float64))

    assert out[sg.MAP_OUTPUT].shape == (2, side, side)
    assert out[sg.SCORE_OUTPUT].shape == (2,)
    np.testing.assert_allclose(out[sg.MAP_OUTPUT], expected_map, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[sg.SCORE_OUTPUT], expected_map.max(axis=(1, 2)), rtol=1e-4, atol=1e-4)


def test_distance_is_zero_for_a_patch_that_is_in_the_bank(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    backbone, _, _ = tiny_backbone(rng)
    image = rng.integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)
    feats = run(sg.feature_graph(backbone, SIZE)[0], tmp_path, image, "features.onnx")[sg.FEATURES_OUTPUT]
    bank = feats[0, [0, 17, 40]]

    out = run(sg.scoring_graph(backbone, SIZE, bank, blur_sigma=0), tmp_path, image)

    flat = out[sg.MAP_OUTPUT].reshape(-1)
    assert flat[[0, 17, 40]] == pytest.approx([0, 0, 0], abs=2e-3)  # clamped, never NaN from rounding
    assert np.all(np.isfinite(flat)) and np.all(flat >= 0)


def test_real_backbone_scoring_agrees_with_its_own_features(tmp_path: Path) -> None:
    backbone = sg.load_backbone()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    fgraph, grid = sg.feature_graph(backbone, SIZE)
    feats = run(fgraph, tmp_path, images, "features.onnx")[sg.FEATURES_OUTPUT]
    assert feats.shape == (3, grid.patches, grid.channels) == (3, 64, 152)
    bank = feats[0, ::3]  # image 0 is covered by the bank, images 1 and 2 are not

    out = run(sg.scoring_graph(backbone, SIZE, bank, blur_sigma=0), tmp_path, images)

    expected = nearest_distance(feats, bank).reshape(3, grid.side, grid.side)
    # float32 |a|^2 - 2ab + |b|^2 with |a|^2 near 3000 leaves ~1e-3 in the square, so up to ~0.03 near zero
    np.testing.assert_allclose(out[sg.MAP_OUTPUT], expected, rtol=1e-3, atol=0.05)
    assert out[sg.SCORE_OUTPUT][0] < out[sg.SCORE_OUTPUT][1]


def test_batch_gives_the_same_scores_as_single_images(tmp_path: Path) -> None:
    backbone = sg.load_backbone()
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    bank = rng.normal(size=(16, 152)).astype(np.float32)
    path = tmp_path / "model.onnx"
    onnx.save(sg.scoring_graph(backbone, SIZE, bank), str(path))
    session = Session(path, provider="cpu", threads=1)

    both = session.run({sg.IMAGE_INPUT: images})[sg.SCORE_OUTPUT]
    singles = [session.run({sg.IMAGE_INPUT: images[i:i + 1]})[sg.SCORE_OUTPUT][0] for i in range(2)]

    np.testing.assert_allclose(both, singles, rtol=1e-5)


@pytest.mark.parametrize("size", [48, 100, 250])
def test_input_size_must_suit_the_backbone(size: int) -> None:
    with pytest.raises(ModelError, match="multiple of 16"):
        sg.check_input_size(size)


def test_bank_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ModelError, match="memory bank has shape"):
        sg.scoring_graph(sg.load_backbone(), SIZE, np.zeros((4, 10), np.float32))


def test_ignored_border_is_zero_in_the_map_and_left_out_of_the_score(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    backbone, _, _ = tiny_backbone(rng)
    images = rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    bank = rng.normal(size=(7, 9)).astype(np.float32)
    full = run(sg.scoring_graph(backbone, SIZE, bank), tmp_path, images, "full.onnx")[sg.MAP_OUTPUT]
    out = run(sg.scoring_graph(backbone, SIZE, bank, ignore_border=1), tmp_path, images, "inner.onnx")
    inner = out[sg.MAP_OUTPUT]
    assert np.all(inner[:, 0, :] == 0) and np.all(inner[:, -1, :] == 0)
    assert np.all(inner[:, :, 0] == 0) and np.all(inner[:, :, -1] == 0)
    np.testing.assert_allclose(inner[:, 1:-1, 1:-1], full[:, 1:-1, 1:-1], rtol=1e-6)
    np.testing.assert_allclose(out[sg.SCORE_OUTPUT], full[:, 1:-1, 1:-1].max(axis=(1, 2)), rtol=1e-6)
    with pytest.raises(ModelError, match="leaves nothing"):
        sg.scoring_graph(backbone, SIZE, bank, ignore_border=SIZE // 16)
