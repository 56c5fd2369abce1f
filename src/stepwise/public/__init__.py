"""Public pages reached from emails and websites, without an API key: tracking, unsubscribe, forms."""
