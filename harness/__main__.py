"""`python -m harness` runs the wardbench command line."""

from harness.cli import main

main()
