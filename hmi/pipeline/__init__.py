"""Workers, bounded queues, supervisor and per-stage metrics."""
