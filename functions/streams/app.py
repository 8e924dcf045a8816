"""Live streams and top gifters: a creator starts and ends a stream; anyone signed in reads it and
its top gifters, and a creator's top gifters of the day or week."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.metrics import MetricUnit

from coins.api import IdempotencyKey, UserIdPath, api_responses, create_app, current_caller, lambda_entry
from coins.errors import (
    Busy,
    Forbidden,
    IdempotencyKeyReused,
    NotACreator,
    NotFound,
    StreamAlreadyLive,
    StreamNotFound,
)
from coins.models.streams import (
    CreatorTopOut,
    StreamOut,
    StreamStartRequest,
    StreamTopOut,
    TopGifterOut,
)
from coins.observability import logger, metrics
from coins.streams import RankedGifter, TopPeriod, stream_view
from coins.wiring import services

app = create_app()

StreamId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


def _items(gifters: list[RankedGifter]) -> list[TopGifterOut]:
    return [TopGifterOut(rank=g.rank, fan_id=g.fan_id, coins=g.coins, gifts=g.gifts) for g in gifters]


@app.post(
    "/v1/streams",
    summary="Start a live stream (creators only)",
    description="Gifts name the stream's id. A creator has one live stream at a time (409 "
    "stream_already_live). A retry with the same Idempotency-Key gets the first answer.",
    tags=["streams"],
    responses=api_responses(
        201,
        StreamOut,
        takes_body=True,
        refuses=(NotACreator, StreamAlreadyLive, IdempotencyKeyReused, Busy),
    ),
)
def start_stream(
    request: Annotated[StreamStartRequest, Body()], idempotency_key: IdempotencyKey
) -> Response[StreamOut]:
    creator = current_caller(app)
    started = services().streams.start(
        creator_id=creator.user_id, title=request.title, idempotency_key=idempotency_key
    )
    metrics.add_metric(name="StreamsStarted", unit=MetricUnit.Count, value=1)
    logger.info("stream started", extra={"stream_id": started["stream_id"]})
    return Response(201, content_types.APPLICATION_JSON, StreamOut.model_validate(started))


@app.post(
    "/v1/streams/<stream_id>/end",
    summary="End a live stream (its creator only)",
    description="Idempotent: ending an ended stream answers with it as it is. Its totals stay.",
    tags=["streams"],
    responses=api_responses(200, StreamOut, refuses=(Forbidden, StreamNotFound, Busy)),
)
def end_stream(stream_id: StreamId) -> StreamOut:
    creator = current_caller(app)
    ended = services().streams.end(creator_id=creator.user_id, stream_id=stream_id)
    logger.info("stream ended", extra={"stream_id": stream_id})
    return StreamOut.model_validate(stream_view(ended))


@app.get(
    "/v1/streams/<stream_id>",
    summary="A live stream (or an ended one) and its gift totals",
    tags=["streams"],
    responses=api_responses(200, StreamOut, refuses=(StreamNotFound,)),
)
def get_stream(stream_id: StreamId) -> StreamOut:
    current_caller(app)
    return StreamOut.model_validate(stream_view(services().streams.get(stream_id)))


@app.get(
    "/v1/streams/<stream_id>/top",
    summary="The stream's top gifters, most coins first",
    tags=["streams"],
    responses=api_responses(200, StreamTopOut, refuses=(StreamNotFound,)),
)
def stream_top(stream_id: StreamId, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> StreamTopOut:
    current_caller(app)
    gifters = services().streams.top_of_stream(stream_id, limit)
    return StreamTopOut(stream_id=stream_id, items=_items(gifters))


@app.get(
    "/v1/creators/<creator_id>/top",
    summary="A creator's top gifters today or this week (UTC), most coins first",
    tags=["streams"],
    responses=api_responses(200, CreatorTopOut, refuses=(NotFound,)),
)
def creator_top(
    creator_id: UserIdPath,
    period: Annotated[TopPeriod, Query()] = TopPeriod.TODAY,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> CreatorTopOut:
    current_caller(app)
    name, gifters = services().streams.top_of_creator(creator_id, period, limit)
    return CreatorTopOut(creator_id=creator_id, period=period, name=name, items=_items(gifters))


lambda_handler = lambda_entry(app)
