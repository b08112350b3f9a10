"""`POST /v1/webhooks/esp`: an email platform's event webhook (SendGrid's format)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from rapport_ingest.api.answers import (
    BatchAnswer,
    Writer,
    error_responses,
    intake,
    list_answer,
    settings,
)
from rapport_ingest.handlers import Intake
from rapport_ingest.settings import IngestSettings

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "/esp",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchAnswer,
    summary="Email platform webhook (SendGrid event format)",
    description=(
        "A JSON array of SendGrid events. `delivered` → email_sent, `open` → email_opened, "
        "`click` → email_clicked, `bounce` → email_bounced (`type: blocked` is a soft bounce), "
        "`unsubscribe`, `group_unsubscribe` and `spamreport` → unsubscribed (marketing). "
        "`processed`, `deferred` and `dropped` are ignored. Event ids derive from "
        "`sg_event_id`, so a webhook the platform retries counts once. Same limits and answers "
        "as the batch endpoint; the key needs events:write on the email channel."
    ),
    responses={
        422: {"model": BatchAnswer, "description": "no event was valid"},
        **error_responses(400, 401, 403, 413, 415, 503),
    },
    openapi_extra={"x-rapport-body": "sendgrid"},
)
async def post_esp_webhook(
    request: Request,
    principal: Writer,
    use_case: Annotated[Intake, Depends(intake)],
    config: Annotated[IngestSettings, Depends(settings)],
) -> Response:
    return await list_answer(
        request,
        config,
        key=None,
        accept=lambda items: use_case.accept_sendgrid(items, principal),
    )
