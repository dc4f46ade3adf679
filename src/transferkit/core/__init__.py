"""Shared services below the siblings (adapt, select, evaluation, export): the one
batched inference helper (`inference`), the feature cache and its keys (`cache`), the one
trainer (`trainer`, on the loop in `loop`), the strategy plan and cost/time estimates
(`strategies`), metrics (`metrics`) and the typed results (`results`)."""
