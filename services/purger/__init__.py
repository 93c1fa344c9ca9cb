"""``livefeed purger``: every change to the timeline purged from edge caches by surrogate key."""
