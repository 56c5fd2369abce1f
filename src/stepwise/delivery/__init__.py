"""Making and delivering messages: rendering, tokens, message building, transports."""
