"""One run from reservation to manifest: start, supervise, collect, record; the
pending record a dead runner leaves and the recovery that finishes it."""
