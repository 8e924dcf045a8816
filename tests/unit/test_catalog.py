"""The gift catalogue is data validated by a model."""

import pytest
from pydantic import ValidationError

from coins.catalog import GiftCatalog, GiftKind, gift_catalog
from coins.errors import NotFound


def test_the_catalogue_spans_rose_to_universe_with_kinds() -> None:
    catalog = gift_catalog()
    assert catalog.gift("rose").coins == 1
    assert catalog.gift("finger_heart").coins == 5
    assert catalog.gift("galaxy").coins == 1000
    assert catalog.gift("lion").coins == 29999
    assert catalog.gift("universe").coins == 34999
    assert {g.kind for g in catalog.gifts} == set(GiftKind)


def test_an_unknown_gift_is_not_found() -> None:
    with pytest.raises(NotFound):
        gift_catalog().gift("unicorn")


@pytest.mark.parametrize(
    "gifts",
    [
        [],
        [{"id": "rose", "name": "Rose", "coins": 1, "kind": "classic"}] * 2,
        [{"id": "rose", "name": "Rose", "coins": 0, "kind": "classic"}],
        [{"id": "rose", "name": "Rose", "coins": 1, "kind": "legendary"}],
        [{"id": "rose", "name": "Rose", "coins": 1, "kind": "classic", "price": 3}],
    ],
)
def test_a_bad_catalogue_is_refused(gifts: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        GiftCatalog.model_validate({"gifts": gifts})
