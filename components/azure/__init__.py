"""Azure components built on pulumi_azure_native submodules."""
