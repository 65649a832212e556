"""scalezoo's model zoo: reference architectures as pure flax.linen modules, found by name."""

# importing a model file registers its models
from scalezoo.zoo import (  # noqa: F401
  autoencoder,
  bert,
  dcgan,
  ddpm,
  efficientnet,
  gnn,
  gpt,
  lenet,
  llama,
  mlp,
  resnet,
  resnet_cifar,
  rnn,
  transformer,
  vgg,
  vit,
)
from scalezoo.zoo.decode import generate
from scalezoo.zoo.gpt import gpt_shape_for
from scalezoo.zoo.llama import llama_shape_for
from scalezoo.zoo.registry import (
  ModelSpec,
  abstract_variables,
  count_flops,
  count_params,
  count_params_split,
  create,
  example_input,
  flops_of,
  names,
  register,
  resolve,
  spec,
)
from scalezoo.zoo.weights import load_pretrained, load_tokenizer, load_weights, save_pretrained, save_weights

__all__ = [
  "ModelSpec",
  "abstract_variables",
  "count_flops",
  "count_params",
  "count_params_split",
  "create",
  "example_input",
  "flops_of",
  "generate",
  "gpt_shape_for",
  "llama_shape_for",
  "load_pretrained",
  "load_tokenizer",
  "load_weights",
  "names",
  "register",
  "resolve",
  "save_pretrained",
  "save_weights",
  "spec",
]
