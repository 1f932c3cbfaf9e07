"""A node's first boot, for every target: the status file it leaves (status). No Pulumi here: remote/ imports
these modules too."""
