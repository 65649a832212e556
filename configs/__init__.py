"""Run configs and sweep specs, shipped as package data: importlib.resources.files("scalezoo.configs")."""
