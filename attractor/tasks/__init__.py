"""Tasks: a model, a kind of data, a loss and metrics, as LightningModules; and the training harness."""
