"""Admin routes (admins group only): adjustments and their approval, reviews, account status, and who
is a creator."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.metrics import MetricUnit

from coins.adjustment_models import (
    ADJUSTMENT_ID_PATTERN,
    AdjustmentId,
    PendingAdjustmentOut,
    PendingAdjustmentPageOut,
)
from coins.api import (
    IdempotencyKey,
    PageCursor,
    UserIdPath,
    api_responses,
    create_app,
    current_caller,
    lambda_entry,
    require_admin,
)
from coins.errors import Busy, Forbidden, IdempotencyKeyReused, InsufficientFunds, NotFound
from coins.models.admin import (
    AdjustmentReceipt,
    AdjustmentRequest,
    CreatorMarkRequest,
    ReviewOut,
    ReviewPageOut,
    StatusChangeOut,
    StatusChangeRequest,
)
from coins.models.creators import CreatorProfileOut
from coins.observability import logger, metrics
from coins.wiring import services

app = create_app()

AdjustmentIdPath = Annotated[AdjustmentId, Path(pattern=ADJUSTMENT_ID_PATTERN)]


@app.post(
    "/v1/admin/adjustments",
    summary="A balanced ledger adjustment (promotional coins, corrections)",
    description="Committed at once (201), or, above the approval threshold, kept for a second admin "
    "(202, `status: pending_approval`): nothing moves until another admin approves it.",
    tags=["admin"],
    responses={
        **api_responses(
            201,
            AdjustmentReceipt,
            takes_body=True,
            refuses=(Forbidden, InsufficientFunds, IdempotencyKeyReused, Busy),
        ),
        202: {
            "description": "Accepted: waits for a second admin's approval",
            "content": {"application/json": {"model": PendingAdjustmentOut}},
        },
    },
)
def adjust(
    request: Annotated[AdjustmentRequest, Body()], idempotency_key: IdempotencyKey
) -> Response[AdjustmentReceipt | PendingAdjustmentOut]:
    admin = current_caller(app)
    require_admin(admin)
    receipt = services().admin.adjust(
        admin_id=admin.user_id,
        user_id=request.user_id,
        unit=request.unit,
        amount=request.amount,
        reason=request.reason,
        source=request.source,
        idempotency_key=idempotency_key,
    )
    if "adjustment_id" in receipt:
        # Above the threshold: an alarm watches every one of these (template.yaml).
        metrics.add_metric(name="AdjustmentsAwaitingApproval", unit=MetricUnit.Count, value=1)
        logger.info(
            "adjustment awaits approval",
            extra={"adjustment_id": receipt["adjustment_id"], "admin_id": admin.user_id},
        )
        return Response(202, content_types.APPLICATION_JSON, PendingAdjustmentOut.model_validate(receipt))
    metrics.add_metric(name="LedgerAdjustments", unit=MetricUnit.Count, value=1)
    logger.info("ledger adjusted", extra={"transfer_id": receipt["transfer_id"], "admin_id": admin.user_id})
    return Response(201, content_types.APPLICATION_JSON, AdjustmentReceipt.model_validate(receipt))


@app.post(
    "/v1/admin/adjustments/<adjustment_id>/approve",
    summary="A second admin approves a pending adjustment",
    description="Commits the adjustment's balanced ledger entry, once; the approver must be another "
    "admin than the one who asked. Approving again answers the same receipt.",
    tags=["admin"],
    responses=api_responses(
        201, AdjustmentReceipt, refuses=(Forbidden, NotFound, InsufficientFunds, IdempotencyKeyReused, Busy)
    ),
)
def approve_adjustment(adjustment_id: AdjustmentIdPath) -> Response[AdjustmentReceipt]:
    admin = current_caller(app)
    require_admin(admin)
    receipt = services().admin.approve(admin_id=admin.user_id, adjustment_id=adjustment_id)
    metrics.add_metric(name="LedgerAdjustments", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="AdjustmentsApproved", unit=MetricUnit.Count, value=1)
    logger.info(
        "adjustment approved",
        extra={"transfer_id": receipt["transfer_id"], "approved_by": admin.user_id},
    )
    return Response(201, content_types.APPLICATION_JSON, AdjustmentReceipt.model_validate(receipt))


@app.get(
    "/v1/admin/adjustments/pending",
    summary="Adjustments waiting for a second admin's approval, oldest first",
    description="Who asked, for whom, how much and why; expired and approved ones are left out.",
    tags=["admin"],
    responses=api_responses(200, PendingAdjustmentPageOut, refuses=(Forbidden, Busy)),
)
def list_pending_adjustments(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: PageCursor = None,
) -> PendingAdjustmentPageOut:
    require_admin(current_caller(app))
    items, next_cursor = services().admin.pending_adjustments(limit=limit, cursor=cursor)
    return PendingAdjustmentPageOut(
        items=[PendingAdjustmentOut.model_validate(item) for item in items], next_cursor=next_cursor
    )


@app.get(
    "/v1/admin/reviews",
    summary="Accounts under review and why",
    tags=["admin"],
    responses=api_responses(200, ReviewPageOut, refuses=(Forbidden, Busy)),
)
def list_reviews(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: PageCursor = None,
) -> ReviewPageOut:
    require_admin(current_caller(app))
    reviews, next_cursor = services().admin.reviews(limit=limit, cursor=cursor)
    return ReviewPageOut(
        items=[
            ReviewOut(user_id=r.user_id, status=r.status, reason=r.reason, since=r.since) for r in reviews
        ],
        next_cursor=next_cursor,
    )


@app.post(
    "/v1/admin/accounts/<user_id>/status",
    summary="Clear a review, freeze or unfreeze an account",
    description="The body is {status} and an optional reason.",
    tags=["admin"],
    responses=api_responses(200, StatusChangeOut, takes_body=True, refuses=(Forbidden, NotFound)),
)
def set_status(
    user_id: UserIdPath,
    request: Annotated[StatusChangeRequest, Body()],
) -> StatusChangeOut:
    admin = current_caller(app)
    require_admin(admin)
    changed = services().admin.set_status(
        admin_id=admin.user_id, user_id=user_id, status=request.status, reason=request.reason
    )
    logger.info("account status changed", extra={"user_id": user_id, "status": changed["status"]})
    return StatusChangeOut.model_validate(changed)


@app.post(
    "/v1/admin/creators/<user_id>",
    summary="Mark or unmark a user as a creator (for platforms that decide who their creators are)",
    description="Only creators receive gifts and go live. Marking is idempotent; unmarking stops new "
    "gifts at once and refunds any still in flight at settlement.",
    tags=["admin"],
    responses=api_responses(200, CreatorProfileOut, takes_body=True, refuses=(Forbidden, NotFound)),
)
def set_creator(
    user_id: UserIdPath,
    request: Annotated[CreatorMarkRequest, Body()],
) -> CreatorProfileOut:
    admin = current_caller(app)
    require_admin(admin)
    mark = services().admin.set_creator(admin_id=admin.user_id, user_id=user_id, creator=request.creator)
    logger.info("creator mark changed", extra={"user_id": user_id, "creator": mark.creator})
    live = services().streams.live_stream_of(user_id) if mark.creator else None
    return CreatorProfileOut(
        user_id=mark.user_id, creator=mark.creator, since=mark.since, status=mark.status, live_stream_id=live
    )


lambda_handler = lambda_entry(app)
