"""Loops: claim events and due deadlines -> engine -> persist; outbox -> delivery."""
