"""``python -m aitl.cli``: the ``aitl`` command where the console script is not on PATH."""

import sys

from aitl.cli.main import main

sys.exit(main())
