"""How services run on a host: supervisor (default); a systemd runtime can follow."""
