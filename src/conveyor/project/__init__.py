"""conveyor.toml -> a validated model; errors point at file:line and key."""

from __future__ import annotations

from conveyor.project.environment import EnvironmentConfig
from conveyor.project.load import Project, load_config_file, load_project
from conveyor.project.model import ConveyorConfig

__all__ = ["ConveyorConfig", "EnvironmentConfig", "Project", "load_config_file", "load_project"]
