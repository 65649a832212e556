"""scalezoo's training engine: data, losses, optimizers, the pure train step, the loop, sweeps and the CLI."""
