"""``python -m helpers``: the course's command line (helpers/cli/)."""

import sys

from .cli import main

sys.exit(main())
