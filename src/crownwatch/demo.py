"""The demo: generate the scenario, ingest it, and check the lake against the ground truth."""
