"""`python -m scalezoo.bench --worker jax|torch`: a bench worker process (bench.worker.serve)."""

import sys

from scalezoo.bench.worker import serve

if __name__ == "__main__":
  if sys.argv[1:2] != ["--worker"] or len(sys.argv) != 3:
    sys.exit("usage: python -m scalezoo.bench --worker jax|torch  (the bench itself: `scalezoo bench`)")
  serve(sys.argv[2])
