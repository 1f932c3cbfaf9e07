"""Who calls Azure and where: a subscription, a credential and the Resource Manager endpoint, handed to
every Azure function the way a boto3 session is handed to the AWS ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential

from spec.outputs import AzureScope

PUBLIC_CLOUD = "https://management.azure.com"
Client = TypeVar("Client")


@dataclass(frozen=True)
class AzureSession:
    subscription_id: str
    credential: TokenCredential
    endpoint: str = PUBLIC_CLOUD
    verify: str | bool = True  # a CA bundle path, for an endpoint with its own certificate authority

    def client(self, kind: type[Client], **kwargs: Any) -> Client:
        """A management client (``ComputeManagementClient``...) for this subscription and endpoint."""
        return kind(self.credential, self.subscription_id, base_url=self.endpoint,  # type: ignore[call-arg]
                    credential_scopes=[f"{self.endpoint}/.default"], connection_verify=self.verify, **kwargs)


def for_scope(scope: AzureScope) -> AzureSession:
    """The session a task uses: Azure's default credential chain (environment, managed identity, Azure CLI
    login...), as `pulumi up` with azure-native does, in the subscription the environment was deployed to."""
    from azure.identity import DefaultAzureCredential

    return AzureSession(subscription_id=scope.subscription_id, credential=DefaultAzureCredential())
