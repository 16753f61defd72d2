"""Everything that talks to a Docker engine: connections, containers, images, the
registry, capture of outputs, radio probes and the channel emulator."""
