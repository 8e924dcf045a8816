"""Cognito pre token generation trigger (V2_0): puts this API's claims into the user's access token.

Deployed only with a Cognito user pool (template.yaml, CognitoUserPoolId): `country` and
`birthdate` from attributes users cannot write, and the `coins/admin` scope for members of the
`admins` group (coins.identity_claims). Cognito waits at most 5 seconds for it, at every sign-in
and token refresh, so it reads nothing and calls nothing. Another OIDC issuer does the same in its
own way (docs/deploy.md, "The JWT issuer").
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.cognito_user_pool_event import (
    PreTokenGenerationV2TriggerEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.identity_claims import access_token_claims
from coins.observability import logger
from coins.wiring import utc_now


@logger.inject_lambda_context
@event_source(data_class=PreTokenGenerationV2TriggerEvent)
def lambda_handler(event: PreTokenGenerationV2TriggerEvent, context: LambdaContext) -> dict[str, Any]:
    added = access_token_claims(
        event.request.user_attributes,
        event.request.group_configuration.groups_to_override,
        utc_now().date(),
    )
    if added.left_out:
        # Attribute names and reasons only: never the values (a birthdate is personal data).
        logger.warning("user attributes left out of the access token", extra={"left_out": added.left_out})
    details = event.response.claims_scope_override_details
    details.access_token_generation = {
        "claimsToAddOrOverride": added.claims,
        "scopesToAdd": list(added.scopes),
    }
    return event.raw_event
