"""Frame sources: the Basler pylon adapter (also the emulated demo camera) and folder/video replay."""
