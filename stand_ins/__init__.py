"""Stand-ins for outside systems, run by the local stack: the sandbox payment provider and
its test sellers."""
