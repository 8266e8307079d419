"""`python -m amed.cli` runs the `amed` command."""

import sys

from amed.cli import main

sys.exit(main())
