"""Backbone + head models, freezing, and saving/loading (safetensors + JSON)."""
