"""Webhooks of the Paid v2 API (§3.10): list the fixed catalog, enable and point one at a URL, send a test,
rotate the organization's signing secret."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import ApiSerializer, validated
from apps.webhooks import selectors, services
from apps.webhooks.models import WEBHOOK_NAMES

TAGS = ["Webhooks"]


class WebhookUpdateIn(ApiSerializer):
    enabled = serializers.BooleanField(required=False)
    url = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=False,
        trim_whitespace=True,
        max_length=2048,
        help_text="HTTPS endpoint. null clears it while the webhook is disabled.",
    )


class WebhookOut(ApiSerializer):
    id = serializers.CharField(source="display_id")
    name = serializers.ChoiceField(choices=list(WEBHOOK_NAMES))
    description = serializers.SerializerMethodField()
    enabled = serializers.BooleanField()
    url = serializers.CharField(allow_null=True)
    last_sent_at = serializers.DateTimeField(allow_null=True)
    last_status = serializers.ChoiceField(choices=["success", "failed"], allow_null=True)

    def get_description(self, endpoint) -> str:
        return selectors.webhook_description(endpoint.name)


class WebhookUpdateOut(WebhookOut):
    signing_secret = serializers.CharField(
        required=False, help_text="Only on the first save that minted the organization's signing secret."
    )

    def to_representation(self, instance):
        body = super().to_representation(instance.endpoint)
        if instance.signing_secret:
            body["signingSecret"] = instance.signing_secret
        return body


class WebhookListApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="list_webhooks",
        responses=inline_serializer(
            "WebhookListResponse",
            {"data": WebhookOut(many=True), "signingSecretConfigured": serializers.BooleanField()},
        ),
        description="All 11 webhooks of the organization (disabled and without a URL until configured), and "
        "whether its signing secret exists.",
    )
    def get(self, request):
        services.webhook_endpoints_ensure(organization=request.organization)
        endpoints = selectors.webhook_endpoint_list(organization=request.organization)
        return Response(
            {
                "data": WebhookOut(endpoints, many=True).data,
                "signingSecretConfigured": selectors.webhook_secret_configured(
                    organization=request.organization
                ),
            }
        )


class WebhookUpdateApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="update_webhook",
        request=WebhookUpdateIn,
        responses=WebhookUpdateOut,
        description="Enable or disable a webhook and set its URL (HTTPS; hosts must resolve to public "
        "addresses only). `url: null` clears the URL while the webhook is disabled. The first save that sets a "
        "URL in the organization returns its signing secret once as `signingSecret`.",
    )
    def patch(self, request, name: str):
        selectors.webhook_endpoint_get(organization=request.organization, name=name)  # 404 first
        changes = validated(WebhookUpdateIn, request.data)
        result = services.webhook_endpoint_update(
            organization=request.organization, name=name, changes=dict(changes)
        )
        return Response(WebhookUpdateOut(result).data)


class WebhookTestApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="test_webhook",
        request=None,
        responses=inline_serializer("WebhookTestResponse", {"success": serializers.BooleanField()}),
        description="Send one signed `test` delivery to the webhook's URL now (enabled or not) and answer "
        "whether the receiver acknowledged it with a 2xx. 400 when the webhook has no URL.",
    )
    def post(self, request, name: str):
        delivery = services.webhook_test_send(organization=request.organization, name=name)
        return Response({"success": delivery.status == delivery.Status.SUCCESS})


class WebhookRotateSecretApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="rotate_webhook_secret",
        request=None,
        responses=inline_serializer(
            "RotateWebhookSecretResponse", {"signingSecret": serializers.CharField()}
        ),
        description="Mint a new signing secret and return it once. Deliveries carry a signature with the "
        "previous secret too for 24 hours, so receivers can switch without dropping any.",
    )
    def post(self, request):
        return Response({"signingSecret": services.webhook_secret_rotate(organization=request.organization)})
