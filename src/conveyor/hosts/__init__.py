"""Hosts: one connector interface, local (subprocess) and ssh (asyncssh)."""
