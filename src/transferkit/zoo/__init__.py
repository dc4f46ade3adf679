"""Where pretrained models come from: the registry of model cards and the factory."""
