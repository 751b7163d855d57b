"""Services the screens and commands use: reports, threshold tuning and training-set export (read the records)."""
