"""scalezoo's model zoo: reference architectures as pure flax.linen modules, found by name."""

from zoo import bert, efficientnet, gpt, lenet, mlp, resnet, resnet_cifar, transformer, vgg, vit  # noqa: F401  (registers models)
from zoo.registry import (
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

__all__ = [
  "ModelSpec", "abstract_variables", "count_flops", "count_params", "count_params_split", "create",
  "example_input", "flops_of", "names", "register", "resolve", "spec",
]
