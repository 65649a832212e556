"""`scalezoo ARGS...` with a full disk inside Orbax's save (run by tests/test_faults.py in its own process, so that
what Orbax's threads log reaches this process's stderr as it would a user's terminal).

argv[1] says where the disk fills: `commit` (a TensorStore write in one of Orbax's commit threads, the error type
and text TensorStore raises) or `finalize` (the commit marker Orbax writes in the main thread's finalize).
"""

import errno
import sys

from orbax.checkpoint._src.path import async_path
from orbax.checkpoint._src.serialization import serialization

from scalezoo import cli

TENSORSTORE_ENOSPC = (
  'RESOURCE_EXHAUSTED: Error writing local file "x/ocdbt.process_0/d/0": Failed to write 412 bytes to file 18: '
  "No space left on device [os_error_code='28']"
)


async def _commit_full(*a, **k):
  raise ValueError(TENSORSTORE_ENOSPC)


async def _finalize_full(*a, **k):
  raise OSError(errno.ENOSPC, "No space left on device")


if __name__ == "__main__":
  where = sys.argv[1]
  if where == "commit":
    serialization.async_serialize_from_host = _commit_full
  else:
    async_path.write_text = _finalize_full
  sys.exit(cli.main(sys.argv[2:]))
