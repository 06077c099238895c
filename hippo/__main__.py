"""``python -m hippo`` runs the ``hippo`` command."""

import sys

from hippo.cli import main

sys.exit(main())
