"""``python -m fourier_interp ...``: the ``fourier-interp`` command line, the same in every way.

Example (a shell)::

    python -m fourier_interp list
    python -m fourier_interp train --model mlp --p 23 --steps 2000 --out runs/mlp
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
