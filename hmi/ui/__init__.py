"""The touchscreen: the only package that imports PySide6 and pyqtgraph."""
