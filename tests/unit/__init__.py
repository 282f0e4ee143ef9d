"""Pure unit tests: no sockets, no threads, no clock; each runs in milliseconds."""
