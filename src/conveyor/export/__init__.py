"""Generated files that call conveyor: GitHub Actions workflows, pre-commit configuration."""
