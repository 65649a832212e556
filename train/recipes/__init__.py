"""Training recipes the supervised engine's tasks do not cover (a GAN, a VAE, DDPM in `generative`, BERT's masked LM
in `mlm`), on the engine's TrainState, chunks and data order."""

from scalezoo.train.recipes.generative import RECIPES, Recipe, ddpm, fit, gan, median_bandwidth, mmd, vae

__all__ = ["RECIPES", "Recipe", "ddpm", "fit", "gan", "median_bandwidth", "mmd", "vae"]
