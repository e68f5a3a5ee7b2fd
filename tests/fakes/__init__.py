"""Stand-ins for what cannot run inside a test: Telegram's Bot API, the network feed."""
