"""Run the sknntk command line with ``python -m sknntk``."""

from sknntk._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
