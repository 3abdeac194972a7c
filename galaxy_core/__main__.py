"""`python -m galaxy_core COMMAND ...`: the command line lives in galaxy_core/cli/."""
import sys

from galaxy_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
