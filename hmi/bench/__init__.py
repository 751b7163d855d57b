"""Benchmarks and the data they generate: the pipeline against the model alone, reports beside a week of records."""
