"""The station's built-in demo product (a turned flange on a belt) and its evaluation data sets."""
