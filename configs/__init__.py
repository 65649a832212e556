"""Run configs and sweep specs, shipped as package data: read them with importlib.resources.files("scalezoo.configs")."""
