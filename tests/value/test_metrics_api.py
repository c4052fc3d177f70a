"""Value metrics over HTTP (§3.12): validation, wire shapes, and that bad input changes nothing."""

import copy

import pytest

from apps.value.models import ValueMetric, ValueModel

pytestmark = pytest.mark.django_db

URL = "/api/v2/value-metrics/"
BODY = {
    "name": "Time saved",
    "unit": {"type": "duration", "durationUnit": "minutes"},
    "formula": {
        "expression": "coalesce(time_saved, minutes_per_ticket)",
        "variables": [
            {"id": "time_saved", "label": "Time saved"},
            {
                "id": "minutes_per_ticket",
                "label": "Minutes per ticket",
                "format": "duration",
                "formatUnit": "minutes",
            },
        ],
    },
    "signal": {"eventName": "ticket_resolved", "defaults": {"minutes_per_ticket": 20.5}},
}


def body(**changes):
    data = copy.deepcopy(BODY)
    data.update(changes)
    return data


def create(api, **changes):
    response = api.post(URL, body(**changes), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_answers_a_write_ack_and_stores_the_wire_shapes(api, organization):
    assert create(api) == {"slug": "time-saved", "name": "Time saved", "version": 1}
    metric = ValueMetric.objects.get(organization=organization)
    assert metric.signal["defaults"] == {"minutes_per_ticket": "20.5"}  # exact, as a decimal string
    detail = api.get(f"{URL}time-saved").json()
    assert detail["signals"] == [
        {
            "eventName": "ticket_resolved",
            "label": "ticket_resolved",
            "defaults": {"minutes_per_ticket": 20.5},  # variable ids are not camelCased
            "description": "",
            "labels": [],
            "tags": [],
        }
    ]
    assert detail["formula"]["id"] == "time-saved"
    assert detail["formula"]["variables"][1] == {
        "id": "minutes_per_ticket",
        "label": "Minutes per ticket",
        "format": "duration",
        "formatUnit": "minutes",
    }
    assert detail["unit"] == {"type": "duration", "durationUnit": "minutes"}
    assert detail["monetaryConversion"] is None and detail["archivedAt"] is None


def test_custom_unit_and_an_explicit_slug(api):
    ack = create(
        api,
        name="Tickets closed",
        slug="tickets",
        unit={"type": "custom", "unit": "tickets"},
        formula={"expression": "1", "variables": []},
        signal={"eventName": "ticket_closed"},
    )
    assert ack["slug"] == "tickets"
    assert api.get(f"{URL}tickets").json()["unit"] == {
        "type": "custom",
        "unit": "tickets",
        "unitDisplay": "tickets",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"unit": {"type": "time"}}, "unit.type"),
        ({"unit": {"type": "duration"}}, "unit.durationUnit"),
        ({"unit": {"type": "duration", "durationUnit": "weeks"}}, "unit.durationUnit"),
        ({"unit": {"type": "monetary", "durationUnit": "minutes"}}, "unit.durationUnit"),
        ({"unit": {"type": "custom"}}, "unit.unit"),
        ({"unit": "minutes"}, "unit"),
        ({"signal": {"label": "no event"}}, "signal.eventName"),
        ({"signal": {"eventName": "  "}}, "signal.eventName"),
        ({"signal": {"eventName": "x", "defaults": {"other": 1}}}, "signal.defaults"),
        (
            {"signal": {"eventName": "x", "defaults": {"time_saved": "20"}}},
            "signal.defaults: 'time_saved' must be a number",
        ),
        (
            {"formula": {"expression": "x", "variables": [{"id": "x", "type": "money"}]}},
            "formula.variables[0].type",
        ),
        ({"formula": {"expression": "x", "variables": [{"id": "and"}]}}, "formula.variables[0].id"),
        ({"formula": {"expression": "x", "variables": [{"id": "x"}, {"id": "x"}]}}, "formula.variables"),
        (
            {"formula": {"expression": "x", "variables": [{"id": "x", "format": "duration"}]}},
            "formula.variables[0].formatUnit",
        ),
        ({"formula": {"expression": "true", "variables": []}}, "formula.expression"),
        ({"formula": {"expression": "", "variables": []}}, "formula.expression"),
        ({"unit": {"type": "monetary"}, "monetaryConversion": {"valuePerUnit": 1}}, "monetaryConversion"),
        ({"monetaryConversion": {"label": "rate"}}, "monetaryConversion.valuePerUnit"),
        ({"category": "happiness"}, "category"),
        ({"slug": "Time Saved"}, "slug"),
        ({"name": "!!!"}, "slug"),
        ({"sources": [{"name": "a", "url": "u"}] * 4}, "sources"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_changes_nothing(api, organization, changes, field):
    response = api.post(URL, body(**changes), format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]
    assert not ValueMetric.objects.exists()
    assert not ValueModel.objects.filter(version__gt=0).exists()


def test_missing_name_is_400(api):
    data = body()
    del data["name"]
    response = api.post(URL, data, format="json")
    assert response.status_code == 400 and "name" in response.json()["error"]


def test_update_with_bad_input_changes_nothing(api, organization):
    create(api)
    for changes, field in [
        ({"name": "Renamed", "variables": {"nope": {"value": 1}}}, "variables: 'nope' is not a variable"),
        ({"name": "Renamed", "unit": {"type": "duration", "durationUnit": "years"}}, "unit.durationUnit"),
        ({"variables": {"time_saved": {"value": True}}}, "variables.value: 'time_saved' must be a number"),
        ({"variables": {"time_saved": {"format": "duration"}}}, "variables.formatUnit"),
        ({"monetaryConversion": {"valuePerUnit": "1"}}, "monetaryConversion.valuePerUnit"),
    ]:
        response = api.patch(f"{URL}time-saved", changes, format="json")
        assert response.status_code == 400, response.json()
        assert field in response.json()["error"]
    metric = ValueMetric.objects.get()
    assert (metric.name, metric.version, metric.unit["durationUnit"]) == ("Time saved", 1, "minutes")
    assert ValueModel.objects.get(organization=organization).version == 1


def test_update_monetary_conversion_and_clearing(api):
    create(api)
    response = api.patch(
        f"{URL}time-saved", {"monetaryConversion": {"valuePerUnit": 1.25}, "category": "time"}, format="json"
    )
    assert response.json() == {"slug": "time-saved", "name": "Time saved", "version": 2}
    summary = api.get(URL).json()["data"][0]
    assert summary["monetaryConversion"] == {
        "valuePerUnit": 1.25,
        "label": "rate",
        "expression": "unit_value * rate",
        "variables": [{"id": "rate", "label": "rate", "default": 1.25}],
    }
    assert summary["category"] == "time"
    api.patch(
        f"{URL}time-saved",
        {"monetaryConversion": None, "variables": {"minutes_per_ticket": {"value": None}}},
        format="json",
    )
    detail = api.get(f"{URL}time-saved").json()
    assert detail["monetaryConversion"] is None
    assert detail["signals"][0]["defaults"] == {}


def test_formula_and_signal_cannot_change_on_update(api):
    create(api)
    response = api.patch(
        f"{URL}time-saved", {"formula": {"expression": "1", "variables": []}, "name": "T"}, format="json"
    )
    assert response.status_code == 200
    assert api.get(f"{URL}time-saved").json()["formula"]["expression"] == BODY["formula"]["expression"]


def test_unknown_slug_is_404_in_the_envelope(api, other_api):
    create(api)
    for response in (
        other_api.get(f"{URL}time-saved"),
        other_api.patch(f"{URL}time-saved", {"name": "x"}, format="json"),
        other_api.delete(f"{URL}time-saved"),
        api.get(f"{URL}nothing"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"


def test_archive_with_expected_version_query(api, organization):
    create(api)
    stale = api.delete(f"{URL}time-saved?expectedActiveVersion=7")
    assert stale.status_code == 409 and stale.json()["code"] == "VERSION_CONFLICT"
    assert ValueMetric.objects.get().archived_at is None
    assert api.delete(f"{URL}time-saved?expectedActiveVersion=1").json()["version"] == 2
    assert api.get(f"{URL}?includeArchived=true").json()["pagination"]["total"] == 1
    assert api.get(URL).json()["pagination"]["total"] == 0
