"""The pure sequence engine: state + inputs + now -> new state + commands (SPEC §4)."""
