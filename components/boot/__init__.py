"""A node's first boot, for every target: the typed inputs (config), the script rendered from them (script), the
status file it leaves (status) and, on clouds, the cloud-config that carries it (cloud_config) and the fetcher of
the node's keys from the cloud's secret store that it runs (node_secrets). No Pulumi here: the local target and
remote/ import these modules too."""
