"""Per-environment configuration: schema, `.env` files, check/diff/show/render, scan."""
