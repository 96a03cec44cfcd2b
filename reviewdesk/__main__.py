"""``python -m reviewdesk`` runs the CLI."""

from reviewdesk.cli import main

main()
