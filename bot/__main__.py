"""`python -m bot`: the same as the `veo-bot` command."""

from bot.cli import main

raise SystemExit(main())
