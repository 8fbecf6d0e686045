"""`python -m hub_tools.cli ...` runs the `hubtool` command line."""
from hub_tools.cli import main

main()
