"""Training recipes the supervised engine's tasks do not cover (a GAN, a VAE, DDPM, BERT's masked LM), on the
engine's TrainState, chunks and data order."""

from scalezoo.train.recipes.generative import RECIPES, Recipe, ddpm, fit, gan, median_bandwidth, mmd, vae
from scalezoo.train.recipes.mlm import mlm

__all__ = ["RECIPES", "Recipe", "ddpm", "fit", "gan", "median_bandwidth", "mlm", "mmd", "vae"]
