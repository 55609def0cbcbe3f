"""Everything that speaks a foreign wire format: chat platforms, video providers, the terminal."""
