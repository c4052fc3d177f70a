"""`client.value_metrics` (paid-python) against the live server (§3.12): the quickstart's metrics."""

import pytest
from paid.errors import BadRequestError, ConflictError, NotFoundError
from paid.types import (
    ValueMetricFormula,
    ValueMetricFormulaVariable,
    ValueMetricMonetaryConversion,
    ValueMetricSignalBinding,
    ValueMetricUnit,
    ValueMetricVariableEdit,
)

from apps.value.models import ValueMetric, ValueModel
from tests.sdk.conftest import NO_RETRY, base_url, client, http, make_client, other_client  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def create_time_saved(client, **kwargs):  # noqa: F811
    """The quickstart's time saved: `time_saved` with `time_saved_unit`, a duration shown in minutes."""
    return client.value_metrics.create_value_metric(
        name="Time saved",
        unit=ValueMetricUnit(type="duration", duration_unit="minutes"),
        formula=ValueMetricFormula(
            expression="coalesce(time_saved, default_seconds)",
            variables=[
                ValueMetricFormulaVariable(id="time_saved", label="Time saved", type="duration"),
                ValueMetricFormulaVariable(id="default_seconds", label="Per ticket", type="number"),
            ],
        ),
        signal=ValueMetricSignalBinding(event_name="ticket_resolved", defaults={"default_seconds": 20}),
        monetary_conversion=ValueMetricMonetaryConversion(value_per_unit=0.5, label="Agent cost per minute"),
        category="time",
        description="Minutes your team did not spend on tickets.",
        sources=[{"name": "Study", "url": "https://example.com/study"}],
        **kwargs,
    )


def create_money_saved(client, **kwargs):  # noqa: F811
    return client.value_metrics.create_value_metric(
        name="Money saved",
        slug="money_saved",
        unit=ValueMetricUnit(type="monetary"),
        formula=ValueMetricFormula(
            expression="money_saved",
            variables=[ValueMetricFormulaVariable(id="money_saved", label="Money saved (cents)")],
        ),
        signal=ValueMetricSignalBinding(event_name="ticket_resolved"),
        category="cost",
        **kwargs,
    )


def test_quickstart_metrics_create_list_and_get(client, organization):  # noqa: F811
    first = create_time_saved(client)
    assert (first.slug, first.name, first.version) == ("time-saved", "Time saved", 1)
    second = create_money_saved(client)
    assert (second.slug, second.version) == ("money_saved", 2)

    listed = client.value_metrics.list_value_metrics()
    assert [m.slug for m in listed.data] == ["time-saved", "money_saved"]
    assert listed.pagination.total == 2
    time_saved = listed.data[0]
    assert time_saved.unit.type == "duration" and time_saved.unit.duration_unit == "minutes"
    assert time_saved.category == "time"
    assert time_saved.monetary_conversion.value_per_unit == 0.5
    assert time_saved.monetary_conversion.expression == "unit_value * rate"
    assert time_saved.monetary_conversion.variables[0].default == 0.5
    assert listed.data[1].monetary_conversion is None
    assert listed.data[1].unit.type == "monetary"

    detail = client.value_metrics.get_value_metric("time-saved")
    assert detail.formula.expression == "coalesce(time_saved, default_seconds)"
    assert detail.formula.label == "Time saved"  # defaults to the metric's name
    assert [v.id for v in detail.formula.variables] == ["time_saved", "default_seconds"]
    assert [v.type for v in detail.formula.variables] == ["duration", "number"]
    assert len(detail.signals) == 1
    assert detail.signals[0].event_name == "ticket_resolved"
    assert detail.signals[0].label == "ticket_resolved"
    assert detail.signals[0].defaults == {"default_seconds": 20}
    assert detail.sources[0].url == "https://example.com/study"
    assert detail.archived_at is None

    page = client.value_metrics.list_value_metrics(limit=1, offset=1)
    assert [m.slug for m in page.data] == ["money_saved"] and page.pagination.has_more is False


def test_update_merges_variables_and_bumps_the_version(client, organization):  # noqa: F811
    create_time_saved(client)
    ack = client.value_metrics.update_value_metric(
        "time-saved",
        name="Time saved per ticket",
        variables={
            "time_saved": ValueMetricVariableEdit(
                value=25, label="Minutes saved", format="duration", format_unit="minutes"
            ),
        },
        expected_active_version=1,
    )
    assert (ack.slug, ack.name, ack.version) == ("time-saved", "Time saved per ticket", 2)
    detail = client.value_metrics.get_value_metric("time-saved")
    assert detail.signals[0].defaults == {"default_seconds": 20, "time_saved": 25}
    variable = detail.formula.variables[0]
    assert (variable.label, variable.format, variable.format_unit) == ("Minutes saved", "duration", "minutes")
    assert detail.formula.variables[1].label == "Per ticket"  # untouched
    assert detail.description == "Minutes your team did not spend on tickets."  # omitted: left alone
    assert ValueMetric.objects.get(slug="time-saved").version == 2


def test_archive_hides_the_metric_and_restore_brings_it_back(client, organization):  # noqa: F811
    create_time_saved(client)
    ack = client.value_metrics.archive_value_metric("time-saved", expected_active_version=1)
    assert ack.version == 2
    assert client.value_metrics.list_value_metrics().data == []
    archived = client.value_metrics.list_value_metrics(include_archived=True).data
    assert [m.slug for m in archived] == ["time-saved"] and archived[0].archived_at is not None
    assert client.value_metrics.get_value_metric("time-saved").archived_at is not None
    # Archiving again changes nothing.
    assert client.value_metrics.archive_value_metric("time-saved").version == 2
    # The slug stays taken while archived.
    with pytest.raises(ConflictError):
        create_time_saved(client, request_options=NO_RETRY)
    restored = client.value_metrics.update_value_metric("time-saved", archived_at=None)
    assert restored.version == 3
    assert [m.slug for m in client.value_metrics.list_value_metrics().data] == ["time-saved"]


def test_stale_expected_version_is_409_and_changes_nothing(client, organization, http):  # noqa: F811
    create_time_saved(client)
    with pytest.raises(ConflictError) as error:
        create_money_saved(client, expected_active_version=0, request_options=NO_RETRY)
    assert error.value.body["code"] == "VERSION_CONFLICT"
    assert "expectedActiveVersion" in error.value.body["error"]
    with pytest.raises(ConflictError):
        client.value_metrics.update_value_metric(
            "time-saved", name="Renamed", expected_active_version=5, request_options=NO_RETRY
        )
    with pytest.raises(ConflictError):
        client.value_metrics.archive_value_metric(
            "time-saved", expected_active_version=0, request_options=NO_RETRY
        )
    assert list(ValueMetric.objects.values_list("slug", "name", "archived_at")) == [
        ("time-saved", "Time saved", None)
    ]
    assert ValueModel.objects.get(organization=organization).version == 1
    # The current version passes.
    assert create_money_saved(client, expected_active_version=1).version == 2


def test_slug_clash_is_409(client, organization):  # noqa: F811
    create_time_saved(client)
    with pytest.raises(ConflictError) as error:
        create_time_saved(client, request_options=NO_RETRY)
    assert "time-saved" in error.value.body["error"]
    assert ValueMetric.objects.count() == 1


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("time_saved +", "formula.expression"),
        ("time_saved * minutes_per_ticket", "minutes_per_ticket"),
        ("eval(time_saved)", "formula.expression"),
        ('"just text"', "formula.expression"),
    ],
)
def test_bad_formulas_are_400_and_change_nothing(client, organization, expression, message):  # noqa: F811
    with pytest.raises(BadRequestError) as error:
        client.value_metrics.create_value_metric(
            name="Time saved",
            unit=ValueMetricUnit(type="duration", duration_unit="minutes"),
            formula=ValueMetricFormula(
                expression=expression, variables=[ValueMetricFormulaVariable(id="time_saved", label="T")]
            ),
            signal=ValueMetricSignalBinding(event_name="ticket_resolved"),
        )
    assert message in error.value.body["error"]
    assert "formula.expression" in error.value.body["error"]
    assert error.value.body["code"] == "INVALID_FORMULA"
    assert not ValueMetric.objects.exists() and not ValueModel.objects.filter(version__gt=0).exists()


def test_another_organizations_slug_is_404(client, other_client, organization):  # noqa: F811
    create_time_saved(client)
    with pytest.raises(NotFoundError):
        other_client.value_metrics.get_value_metric("time-saved")
    with pytest.raises(NotFoundError):
        other_client.value_metrics.update_value_metric("time-saved", name="Mine")
    with pytest.raises(NotFoundError):
        other_client.value_metrics.archive_value_metric("time-saved")
    assert other_client.value_metrics.list_value_metrics().data == []
    # The other organization may use the same slug: slugs are unique per organization.
    assert create_time_saved(other_client).version == 1
    assert client.value_metrics.get_value_metric("time-saved").name == "Time saved"
