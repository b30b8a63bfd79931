"""`conveyor scan`: hard-coded URLs, hosts, ports and secrets, grouped, and rewritten by --fix."""
