"""Training: evaluation protocols (LOSO, holdout, random), the training loop and the ``train`` command."""
