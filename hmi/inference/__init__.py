"""Model packages, inference backends (the only onnxruntime import), pre/post-processing, teach."""
