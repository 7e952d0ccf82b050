"""``python -m crownwatch``: the same as the ``crownwatch`` command."""

from crownwatch.cli import main

main()
