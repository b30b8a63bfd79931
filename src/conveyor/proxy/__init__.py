"""Traffic switching on a host: Caddy (admin API on a unix socket) by default."""
