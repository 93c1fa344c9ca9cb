"""`livefeed notifier`: breaking-news alerts to readers' browsers over Web Push."""
