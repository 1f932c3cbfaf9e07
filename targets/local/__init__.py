"""The local target: a real small cluster built from Linux namespaces on this machine."""
