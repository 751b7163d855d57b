"""Tuning the judgement on logged parts: score history, predicted consequences, what-if re-scoring."""
