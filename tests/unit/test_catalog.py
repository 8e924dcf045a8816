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


def test_at_least_30_gifts_from_the_cheapest_to_the_dearest() -> None:
    gifts = gift_catalog().gifts
    assert len(gifts) >= 30
    assert (gifts[0].id, gifts[-1].id) == ("rose", "universe")
    assert [g.coins for g in gifts] == sorted(g.coins for g in gifts)
    # Across the whole range: something for every budget between 1 and 34,999 coins.
    assert {g.coins for g in gifts} >= {1, 5, 100, 1000, 10000, 34999}
    assert len({g.coins // 1000 for g in gifts if g.coins >= 1000}) >= 8


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
        [  # out of price order
            {"id": "lion", "name": "Lion", "coins": 29999, "kind": "exclusive"},
            {"id": "rose", "name": "Rose", "coins": 1, "kind": "classic"},
        ],
        [  # two gifts a fan could not tell apart
            {"id": "rose", "name": "Rose", "coins": 1, "kind": "classic"},
            {"id": "red_rose", "name": "rose", "coins": 2, "kind": "classic"},
        ],
    ],
)
def test_a_bad_catalogue_is_refused(gifts: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        GiftCatalog.model_validate({"gifts": gifts})
