"""Pure verdict policy: scores + threshold set -> verdict and reason."""
