"""veo-bot: the core. Imports no chat platform, provider adapter or storage module."""
