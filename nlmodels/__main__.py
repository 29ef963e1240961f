"""``python -m nlmodels``: the command line (the same as the ``nlmodels`` script and ``python -m nlmodels.cli``)."""

import sys

from .cli import main

sys.exit(main())
