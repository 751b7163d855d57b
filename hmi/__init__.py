"""Machine-vision inspection station: camera -> model -> verdict -> PLC, records and screens."""

__version__ = "0.1.0"
