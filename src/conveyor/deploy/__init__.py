"""Deploys: plan (pure), execute, health gates, host state, locks. Imports without typer or rich."""
