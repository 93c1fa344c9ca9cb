"""``livefeed grip-publisher``: each event published once per channel to GRIP proxies."""
