"""Training sets from the records: reviewed parts exported in anomalib's folder layout and YOLO's layout."""
