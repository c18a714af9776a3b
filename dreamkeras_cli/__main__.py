"""`python -m dreamkeras_cli COMMAND [flags]`, the same as `dreamkeras COMMAND`."""

import sys

from dreamkeras_cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
