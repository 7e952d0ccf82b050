"""Detection: Sigma rules compiled into vectorised predicates over event batches."""
