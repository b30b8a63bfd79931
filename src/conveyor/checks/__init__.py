"""The quality pipeline: steps from presets, a DAG run in parallel, a content-hash cache."""
